"""arXiv subject-class taxonomy and resolution of the aggregator's short category codes."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Every active arXiv subject class, keyed by its arXiv id, with the official name
# shown on https://arxiv.org/category_taxonomy (checked against the taxonomy
# definitions in arXiv's own arxiv-base code).  Alias classes that arXiv still
# lists on that page (cs.NA, cs.SY, math.IT, math.MP, q-fin.EC, stat.TH) are kept
# so papers carrying them resolve; CATEGORY_ALIASES names their canonical twin.
ARXIV_CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        # Computer Science (cs)
        "cs.AI": "Artificial Intelligence",
        "cs.AR": "Hardware Architecture",
        "cs.CC": "Computational Complexity",
        "cs.CE": "Computational Engineering, Finance, and Science",
        "cs.CG": "Computational Geometry",
        "cs.CL": "Computation and Language",
        "cs.CR": "Cryptography and Security",
        "cs.CV": "Computer Vision and Pattern Recognition",
        "cs.CY": "Computers and Society",
        "cs.DB": "Databases",
        "cs.DC": "Distributed, Parallel, and Cluster Computing",
        "cs.DL": "Digital Libraries",
        "cs.DM": "Discrete Mathematics",
        "cs.DS": "Data Structures and Algorithms",
        "cs.ET": "Emerging Technologies",
        "cs.FL": "Formal Languages and Automata Theory",
        "cs.GL": "General Literature",
        "cs.GR": "Graphics",
        "cs.GT": "Computer Science and Game Theory",
        "cs.HC": "Human-Computer Interaction",
        "cs.IR": "Information Retrieval",
        "cs.IT": "Information Theory",
        "cs.LG": "Machine Learning",
        "cs.LO": "Logic in Computer Science",
        "cs.MA": "Multiagent Systems",
        "cs.MM": "Multimedia",
        "cs.MS": "Mathematical Software",
        "cs.NA": "Numerical Analysis",
        "cs.NE": "Neural and Evolutionary Computing",
        "cs.NI": "Networking and Internet Architecture",
        "cs.OH": "Other Computer Science",
        "cs.OS": "Operating Systems",
        "cs.PF": "Performance",
        "cs.PL": "Programming Languages",
        "cs.RO": "Robotics",
        "cs.SC": "Symbolic Computation",
        "cs.SD": "Sound",
        "cs.SE": "Software Engineering",
        "cs.SI": "Social and Information Networks",
        "cs.SY": "Systems and Control",
        # Economics (econ)
        "econ.EM": "Econometrics",
        "econ.GN": "General Economics",
        "econ.TH": "Theoretical Economics",
        # Electrical Engineering and Systems Science (eess)
        "eess.AS": "Audio and Speech Processing",
        "eess.IV": "Image and Video Processing",
        "eess.SP": "Signal Processing",
        "eess.SY": "Systems and Control",
        # Mathematics (math)
        "math.AC": "Commutative Algebra",
        "math.AG": "Algebraic Geometry",
        "math.AP": "Analysis of PDEs",
        "math.AT": "Algebraic Topology",
        "math.CA": "Classical Analysis and ODEs",
        "math.CO": "Combinatorics",
        "math.CT": "Category Theory",
        "math.CV": "Complex Variables",
        "math.DG": "Differential Geometry",
        "math.DS": "Dynamical Systems",
        "math.FA": "Functional Analysis",
        "math.GM": "General Mathematics",
        "math.GN": "General Topology",
        "math.GR": "Group Theory",
        "math.GT": "Geometric Topology",
        "math.HO": "History and Overview",
        "math.IT": "Information Theory",
        "math.KT": "K-Theory and Homology",
        "math.LO": "Logic",
        "math.MG": "Metric Geometry",
        "math.MP": "Mathematical Physics",
        "math.NA": "Numerical Analysis",
        "math.NT": "Number Theory",
        "math.OA": "Operator Algebras",
        "math.OC": "Optimization and Control",
        "math.PR": "Probability",
        "math.QA": "Quantum Algebra",
        "math.RA": "Rings and Algebras",
        "math.RT": "Representation Theory",
        "math.SG": "Symplectic Geometry",
        "math.SP": "Spectral Theory",
        "math.ST": "Statistics Theory",
        # Quantitative Biology (q-bio)
        "q-bio.BM": "Biomolecules",
        "q-bio.CB": "Cell Behavior",
        "q-bio.GN": "Genomics",
        "q-bio.MN": "Molecular Networks",
        "q-bio.NC": "Neurons and Cognition",
        "q-bio.OT": "Other Quantitative Biology",
        "q-bio.PE": "Populations and Evolution",
        "q-bio.QM": "Quantitative Methods",
        "q-bio.SC": "Subcellular Processes",
        "q-bio.TO": "Tissues and Organs",
        # Quantitative Finance (q-fin)
        "q-fin.CP": "Computational Finance",
        "q-fin.EC": "Economics",
        "q-fin.GN": "General Finance",
        "q-fin.MF": "Mathematical Finance",
        "q-fin.PM": "Portfolio Management",
        "q-fin.PR": "Pricing of Securities",
        "q-fin.RM": "Risk Management",
        "q-fin.ST": "Statistical Finance",
        "q-fin.TR": "Trading and Market Microstructure",
        # Statistics (stat)
        "stat.AP": "Applications",
        "stat.CO": "Computation",
        "stat.ME": "Methodology",
        "stat.ML": "Machine Learning",
        "stat.OT": "Other Statistics",
        "stat.TH": "Statistics Theory",
        # Physics: Astrophysics (astro-ph)
        "astro-ph.CO": "Cosmology and Nongalactic Astrophysics",
        "astro-ph.EP": "Earth and Planetary Astrophysics",
        "astro-ph.GA": "Astrophysics of Galaxies",
        "astro-ph.HE": "High Energy Astrophysical Phenomena",
        "astro-ph.IM": "Instrumentation and Methods for Astrophysics",
        "astro-ph.SR": "Solar and Stellar Astrophysics",
        # Physics: Condensed Matter (cond-mat)
        "cond-mat.dis-nn": "Disordered Systems and Neural Networks",
        "cond-mat.mes-hall": "Mesoscale and Nanoscale Physics",
        "cond-mat.mtrl-sci": "Materials Science",
        "cond-mat.other": "Other Condensed Matter",
        "cond-mat.quant-gas": "Quantum Gases",
        "cond-mat.soft": "Soft Condensed Matter",
        "cond-mat.stat-mech": "Statistical Mechanics",
        "cond-mat.str-el": "Strongly Correlated Electrons",
        "cond-mat.supr-con": "Superconductivity",
        # Physics: single-class archives
        "gr-qc": "General Relativity and Quantum Cosmology",
        "hep-ex": "High Energy Physics - Experiment",
        "hep-lat": "High Energy Physics - Lattice",
        "hep-ph": "High Energy Physics - Phenomenology",
        "hep-th": "High Energy Physics - Theory",
        "math-ph": "Mathematical Physics",
        "nucl-ex": "Nuclear Experiment",
        "nucl-th": "Nuclear Theory",
        "quant-ph": "Quantum Physics",
        # Physics: Nonlinear Sciences (nlin)
        "nlin.AO": "Adaptation and Self-Organizing Systems",
        "nlin.CD": "Chaotic Dynamics",
        "nlin.CG": "Cellular Automata and Lattice Gases",
        "nlin.PS": "Pattern Formation and Solitons",
        "nlin.SI": "Exactly Solvable and Integrable Systems",
        # Physics (physics)
        "physics.acc-ph": "Accelerator Physics",
        "physics.ao-ph": "Atmospheric and Oceanic Physics",
        "physics.app-ph": "Applied Physics",
        "physics.atm-clus": "Atomic and Molecular Clusters",
        "physics.atom-ph": "Atomic Physics",
        "physics.bio-ph": "Biological Physics",
        "physics.chem-ph": "Chemical Physics",
        "physics.class-ph": "Classical Physics",
        "physics.comp-ph": "Computational Physics",
        "physics.data-an": "Data Analysis, Statistics and Probability",
        "physics.ed-ph": "Physics Education",
        "physics.flu-dyn": "Fluid Dynamics",
        "physics.gen-ph": "General Physics",
        "physics.geo-ph": "Geophysics",
        "physics.hist-ph": "History and Philosophy of Physics",
        "physics.ins-det": "Instrumentation and Detectors",
        "physics.med-ph": "Medical Physics",
        "physics.optics": "Optics",
        "physics.plasm-ph": "Plasma Physics",
        "physics.pop-ph": "Popular Physics",
        "physics.soc-ph": "Physics and Society",
        "physics.space-ph": "Space Physics",
    }
)

# arXiv's alias pairs (alias -> canonical): both ids are valid and carry the same
# papers; the canonical one is the id arXiv lists a paper under as primary.
CATEGORY_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "cs.NA": "math.NA",
        "cs.SY": "eess.SY",
        "math.IT": "cs.IT",
        "math.MP": "math-ph",
        "q-fin.EC": "econ.GN",
        "stat.TH": "math.ST",
    }
)

# Order in which archives are tried when the site shows a bare subject code that
# several archives share (e.g. "NA", "CV", "GN", "CO").  The aggregator lists AI /
# machine-learning papers, so cs wins first, then stat (stat.ML) and eess (signal,
# image, audio), the archives closest to that audience; the remaining groups
# follow, then the physics archives.  Every archive of ARXIV_CATEGORIES is listed,
# so every subject code is reachable as a bare code.
ARCHIVE_PRECEDENCE: tuple[str, ...] = (
    "cs",
    "stat",
    "eess",
    "econ",
    "math",
    "q-bio",
    "q-fin",
    "physics",
    "astro-ph",
    "cond-mat",
    "nlin",
    "quant-ph",
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math-ph",
    "nucl-ex",
    "nucl-th",
)

def resolve_category(site_code: str) -> tuple[str, str | None]:
    """Resolve a site category code to ``(arxiv_category, category_name)``.

    ``'LG'`` -> ``('cs.LG', 'Machine Learning')``; ``'ML'`` -> ``('stat.ML',
    'Machine Learning')``.  A full arXiv id (``'quant-ph'``, ``'math.OC'``,
    ``'cond-mat.stat-mech'``, ``'hep-th'``) resolves to itself with its name.  A
    bare code shared by several archives (``'NA'``: cs.NA and math.NA) resolves to
    the first archive in ARCHIVE_PRECEDENCE.  Surrounding whitespace is ignored.
    An unknown code comes back verbatim with ``None`` as its name: this function
    never raises and never drops a code.
    """
    key = site_code.strip()
    if key in ARXIV_CATEGORIES:
        return key, ARXIV_CATEGORIES[key]
    arxiv_id = _BARE_CODE_TO_ID.get(key)
    if arxiv_id is None:
        return site_code, None
    return arxiv_id, ARXIV_CATEGORIES[arxiv_id]


def is_known_category(site_code: str) -> bool:
    """Return True if ``site_code`` resolves to an arXiv subject class (see resolve_category)."""
    return resolve_category(site_code)[1] is not None


def _archive_of(arxiv_id: str) -> str:
    """Return the archive part of an arXiv category id ('cs.LG' -> 'cs', 'quant-ph' -> 'quant-ph')."""
    return arxiv_id.split(".", 1)[0]


def _build_bare_code_index() -> dict[str, str]:
    """Map each bare subject code ('LG', 'stat-mech') to its arXiv id, earlier archives winning."""
    rank = {archive: position for position, archive in enumerate(ARCHIVE_PRECEDENCE)}
    index: dict[str, str] = {}
    ordered = sorted(
        (arxiv_id for arxiv_id in ARXIV_CATEGORIES if "." in arxiv_id),
        key=lambda arxiv_id: rank.get(_archive_of(arxiv_id), len(rank)),
    )
    for arxiv_id in ordered:
        index.setdefault(arxiv_id.split(".", 1)[1], arxiv_id)
    return index


# Built once at import so resolve_category is a pair of O(1) dict look-ups.
_BARE_CODE_TO_ID: dict[str, str] = _build_bare_code_index()
