"""The landing page of output/: what the dataset is, its files with checksums, the data dictionary, the changelog and charts."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import matplotlib
import matplotlib.axes
import matplotlib.axis
import matplotlib.dates
import matplotlib.ticker
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from markupsafe import Markup, escape
from matplotlib.figure import Figure

import schemas
from flows import formats, ids, package, publish, settings
from flows.checksums import sha256_file
from flows.files import write_atomic
from schemas.authorships import AUTHOR_ROLES
from schemas.papers import CODE_STATUSES

PAGE = "index.html"
# Per-release pages live beside the releases (output/pages/<release_id>.html), not inside them:
# a release folder is immutable and its SHA256SUMS and datapackage.json list exactly what was
# published. A page inside it would freeze this module's markup and matplotlib's SVG bytes into
# every release's checksums, and releases published before the page existed could never get one.
# Pages outside are rebuilt from output/ after every publish, so all of them stay current.
PAGES_DIRNAME = "pages"
TEMPLATES_DIR = Path(__file__).parent / "templates"
RECENT_RELEASES = 5
NEWEST_PAPERS = 10
_ROWS = "rows"
# Rows of papers and authorships the landing page reads at a time.
_BATCH_ROWS = 65_536
NEWEST_PAPER_COLUMNS = ["title", "authors", "is_author_list_truncated", "is_year_inferred"]
TOP_CATEGORIES = 7  # more categories than this are drawn as one "other" band
HISTORY_PROFILES = 8  # lines in the metric history; more would be unreadable
HISTORY_METRICS = {
    "h_index": "h-index",
    "citations": "citations",
    "papers_total": "papers (site total)",
    "novelty_pct": "novelty %",
    "ai_score": "AI score",
}
PACKAGE_FILES = {
    package.DATAPACKAGE: "Frictionless descriptor: schema, bytes, sha256, rows",
    package.CARD: "dataset card",
    package.VALIDATION_REPORT: "validation report",
    package.CHECKSUMS: "checksums for sha256sum -c",
}
OTHER_CATEGORY = "other"
OTHER_COLOR = "#bababa"
CATEGORY_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
CODE_STATUS_COLORS = {"linked": "#1b7837", "badge_only": "#7fbf7b", "mentioned": "#f1a340", "none": "#d9d9d9"}
AUTHOR_ROLE_COLORS = {"sole": "#762a83", "first": "#1f78b4", "middle": "#a6cee3", "last": "#33a02c", "hidden": "#fdbf6f", "absent": "#d9d9d9"}
# Chart bytes are deterministic like the data files: a fixed salt for the SVG's generated ids, no
# date or creator (library version) metadata, text kept as text (small, selectable) and never
# parsed as TeX, since names and titles may contain `$`.
CHART_RC = {
    "svg.hashsalt": "paper-profiles",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titlelocation": "left",
}
SVG_METADATA = {"Date": None, "Creator": None}
CHART_WIDTH_INCHES = 7.5
_CODE_SPAN = re.compile(r"`([^`]+)`")
_SVG_TAG = re.compile(r"<[^>]+>")
_SVG_ID_REFERENCE = re.compile(r'(\sid="|url\(#|href="#)')


@dataclass(frozen=True)
class FileEntry:
    """One downloadable file of a release, as the files table lists it."""

    name: str
    href: str
    kind: str
    file_format: str
    bytes: int
    rows: int | None
    sha256: str


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart, or the reason there is none."""

    chart_id: str
    title: str
    caption: str
    svg: Markup | None


def write_site(output_dir: Path, drawn: list[Chart] | None = None) -> None:
    """Write output/index.html and output/pages/<release_id>.html from what output/ holds.

    `drawn`: the newest release's charts, drawn already from its data files (draw_charts).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    releases = publish.read_releases(output_dir)
    environment = template_environment()
    pages = {output_dir / PAGE: environment.get_template("index.html.j2").render(landing_context(output_dir, releases, drawn))}
    for position, release in enumerate(releases):
        newer = releases[position - 1]["release_id"] if position else None
        context = release_context(output_dir, release, newer)
        pages[output_dir / PAGES_DIRNAME / f"{release['release_id']}.html"] = environment.get_template("release.html.j2").render(context)
    _remove_stale_pages(output_dir / PAGES_DIRNAME, set(pages))
    for path, text in pages.items():
        _write_if_changed(path, text)


def template_environment() -> jinja2.Environment:
    """Jinja2 with autoescape on: every text from the data is escaped, whatever the template does."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["filesize"] = filesize
    environment.filters["thousands"] = lambda number: "" if number is None else f"{number:,}"
    environment.filters["inline_code"] = inline_code
    return environment


def landing_context(output_dir: Path, releases: list[dict], drawn: list[Chart] | None = None) -> dict:
    """Everything output/index.html shows: the newest release, its files and data, and the history (`drawn`: its charts, if drawn already)."""
    context = {
        "root": "",
        "dataset": _dataset(),
        "releases": releases,
        "recent_releases": releases[:RECENT_RELEASES],
        "dictionary": data_dictionary(),
        "latest": None,
    }
    if releases:
        newest = releases[0]
        release_dir = output_dir / newest["path"]
        papers_path = release_dir / formats.table_file("papers", "parquet")
        papers = summarize_papers(papers_path)
        newest_ids = papers.newest_ids
        context["latest"] = {
            **newest,
            "citation": citation(newest),
            "files": release_files(release_dir, newest["path"]),
            "newest_papers": newest_papers(formats.read_columns(papers_path, ["paper_id", "published_date", "category", "code_status", *NEWEST_PAPER_COLUMNS],
                                                                filters=[("paper_id", "in", newest_ids)])) if newest_ids else [],
        }
        context["charts"] = drawn if drawn is not None else draw_charts(chart_data(papers, release_dir))
    return context


def release_context(output_dir: Path, release: dict, newer_release_id: str | None) -> dict:
    """What output/pages/<release_id>.html shows: one release's facts, files and changes."""
    root = "../"
    return {
        "root": root,
        "dataset": _dataset(),
        "release": {**release, "citation": citation(release), "files": release_files(output_dir / release["path"], root + release["path"])},
        "newer_release_id": newer_release_id,
    }


def release_files(release_dir: Path, href_prefix: str) -> list[FileEntry]:
    """The files of a release: data files from its datapackage.json, then the package's own files."""
    descriptor = json.loads((release_dir / package.DATAPACKAGE).read_text("utf-8"))
    entries = [
        FileEntry(
            name=resource["path"],
            href=href_prefix + resource["path"],
            kind=Path(resource["path"]).stem,  # `papers.csv`; older descriptors lack x-table
            file_format=resource["format"],
            bytes=resource["bytes"],
            rows=resource.get(package.ROWS, resource.get(package.EXTRA_ROWS)),
            sha256=resource["hash"].removeprefix("sha256:"),
        )
        for resource in descriptor["resources"]
    ]
    for name, description in PACKAGE_FILES.items():
        path = release_dir / name
        if path.is_file():
            entries.append(FileEntry(name, href_prefix + name, description, path.suffix.lstrip(".") or "text", path.stat().st_size, None, sha256_file(path)))
    return entries


def data_dictionary() -> list[dict]:
    """Every table with its description, key and columns, from schemas/."""
    entries = schemas.dictionary()
    return [
        {
            "name": name,
            "description": table.description,
            "key": list(table.primary_key),
            "columns": [entry for entry in entries if entry["table"] == name],
        }
        for name, table in schemas.TABLES.items()
    ]


def citation(release: dict) -> str:
    """The one-line citation of a release, as in its dataset card."""
    return (
        f"paper-profiles contributors, paper-profiles: researcher profiles and their papers, "
        f"release {release['release_id']} (data as of {release['as_of_date']})."
    )


def newest_papers(papers: pd.DataFrame, limit: int = NEWEST_PAPERS) -> list[dict]:
    """The most recently published papers, newest first (ties by paper_id), for a first look."""
    ordered = papers.sort_values(["published_date", "paper_id"], ascending=[False, True], kind="stable")
    return [
        {
            "published_date": str(row.published_date),
            "is_year_inferred": bool(row.is_year_inferred),
            "category": row.category,
            "title": row.title,
            "authors": ", ".join(row.authors) + (" et al." if row.is_author_list_truncated else ""),
            "code_status": row.code_status,
        }
        for row in ordered.head(limit).itertuples(index=False)
    ]


@dataclass
class PapersSummary:
    """What the landing page needs of papers.parquet, gathered in one pass a batch at a time."""

    newest_ids: list[str]  # the NEWEST_PAPERS newest (published_date, then paper_id)
    by_category: pd.DataFrame  # year, category, rows
    by_code_status: pd.DataFrame  # year, code_status, rows
    paper_ids: np.ndarray  # every paper_id, sorted, as fixed-width bytes
    years: np.ndarray  # the year of each of paper_ids


def summarize_papers(path: Path) -> PapersSummary:
    """Read papers.parquet a batch at a time: no more than a batch of rows and two small arrays per paper are held."""
    ids_parts: list[np.ndarray] = []
    year_parts: list[np.ndarray] = []
    by_category: list[pd.DataFrame] = []
    by_code_status: list[pd.DataFrame] = []
    newest: pa.Table | None = None
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS, columns=["paper_id", "published_date", "year", "category", "code_status"]):
        table = pa.Table.from_batches([batch])
        ids_parts.append(_paper_id_bytes(table.column("paper_id")))
        year_parts.append(table.column("year").to_numpy())
        by_category.append(_year_counts(table, "category"))
        by_code_status.append(_year_counts(table, "code_status"))
        candidates = table.select(["paper_id", "published_date"])
        candidates = candidates if newest is None else pa.concat_tables([newest, candidates])
        newest = candidates.take(pc.select_k_unstable(candidates, NEWEST_PAPERS, [("published_date", "descending"), ("paper_id", "ascending")]))
    paper_ids = np.concatenate(ids_parts) if ids_parts else np.array([], f"S{ids.PAPER_ID_HEX_CHARS}")
    years = np.concatenate(year_parts) if year_parts else np.array([], np.int64)
    if np.any(paper_ids[1:] < paper_ids[:-1]):  # published files are in paper_id order; sort anything else
        order = np.argsort(paper_ids, kind="stable")
        paper_ids, years = paper_ids[order], years[order]
    return PapersSummary([] if newest is None else newest.column("paper_id").to_pylist(), _summed(by_category, "category"), _summed(by_code_status, "code_status"), paper_ids, years)


@dataclass
class ChartData:
    """What the landing page's charts show of a release, read from its data files (chart_data)."""

    by_category: pd.DataFrame  # papers: year, category, rows
    by_code_status: pd.DataFrame  # papers: year, code_status, rows
    roles: pd.DataFrame  # authorships: year, author_role, rows
    n_profiles: int
    snapshots: pd.DataFrame


def read_chart_data(release_dir: Path) -> ChartData:
    """The chart data of the release files in `release_dir` (a staged release too: see pipeline.publish_stage)."""
    return chart_data(summarize_papers(release_dir / formats.table_file("papers", "parquet")), release_dir)


def chart_data(papers: PapersSummary, release_dir: Path) -> ChartData:
    """The chart data of a papers summary of the release in `release_dir`, its authorships and its snapshots.

    Papers are counted per year as they are read (summarize_papers); authorships are read a batch
    at a time and given their paper's year by a binary search, so the page holds no Python object
    per row and only a batch of either table, however large the release.
    """
    roles, n_profiles = _role_year_counts(release_dir / formats.table_file("authorships", "parquet"), papers)
    snapshots = formats.read("profile_snapshots", release_dir / formats.table_file("profile_snapshots", "parquet"))
    return ChartData(papers.by_category, papers.by_code_status, roles, n_profiles, snapshots)


def draw_charts(data: ChartData) -> list[Chart]:
    """The four charts of the landing page (matplotlib, no file read: a thread may draw them while the release is checked)."""
    return [
        _chart("chart-categories", "Papers per year by category", f"Each paper once, by the category the site shows; categories beyond the {TOP_CATEGORIES} largest are drawn as “other”.",
              papers_by_category_svg(data.by_category)),
        _chart("chart-code", "Code availability per year", "linked: the abstract links a repository; badge_only: the site's Code badge without a link; mentioned: the abstract promises code without a link; none.",
              stacked_bars_svg(_count_by_year(data.by_code_status, "code_status", CODE_STATUSES), CODE_STATUS_COLORS, "papers")),
        _chart("chart-roles", "The profiled researcher's author role per year", f"One count per paper on a profile, summed over {data.n_profiles:,} profile(s); last only when the author list is complete, hidden when the researcher is not among the names shown.",
              stacked_bars_svg(_count_by_year(data.roles, "author_role", AUTHOR_ROLES), AUTHOR_ROLE_COLORS, "papers on profiles")),
        metric_history_chart(data.snapshots),
    ]


def papers_by_category_svg(counts: pd.DataFrame) -> str | None:
    """Stacked bars of papers per year, one band per large category and one for the rest (`counts`: year, category, rows)."""
    totals = counts.groupby("category")[_ROWS].sum()
    order = sorted(totals.index, key=lambda category: (-totals[category], category))
    shown = order[:TOP_CATEGORIES]
    bands = counts["category"].where(counts["category"].isin(shown), OTHER_CATEGORY)
    series = shown + ([OTHER_CATEGORY] if len(order) > len(shown) else [])
    colors = {**dict(zip(shown, CATEGORY_COLORS)), OTHER_CATEGORY: OTHER_COLOR}
    return stacked_bars_svg(_count_by_year(counts.assign(category=bands), "category", series), colors, "papers")


def stacked_bars_svg(counts: pd.DataFrame, colors: dict[str, str], ylabel: str) -> str | None:
    """Stacked bars, one per year (every year of the range, empty ones too); None without data."""
    if counts.empty:
        return None
    with matplotlib.rc_context(CHART_RC):
        figure = Figure(figsize=(CHART_WIDTH_INCHES, 3.0), layout="constrained")
        axes = figure.add_subplot()
        bottom = pd.Series(0, index=counts.index)
        for series in counts.columns:
            axes.bar(counts.index, counts[series], bottom=bottom, color=colors[series], label=f"{series} ({int(counts[series].sum()):,})", width=0.8)
            bottom = bottom + counts[series]
        axes.set_ylabel(ylabel)
        axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        _integer_ticks(axes.yaxis)
        figure.legend(loc="outside right upper", frameon=False)
        return _svg(figure)


def metric_history_chart(snapshots: pd.DataFrame) -> Chart:
    """Header metrics over the captures of profiles with several snapshots; a note when none has."""
    title = "Metric history of profiles with several snapshots"
    counts = snapshots.groupby("profile_id").size()
    several = sorted(counts[counts >= 2].index, key=lambda profile_id: (-counts[profile_id], profile_id))
    if not several:
        return _chart("chart-history", title, "No profile has more than one archived snapshot yet.", None)
    shown = several[:HISTORY_PROFILES]
    caption = f"{len(several):,} profile(s) have several snapshots" + (f"; the {len(shown)} with the most are drawn." if len(shown) < len(several) else ".")
    return _chart("chart-history", title, caption, metric_history_svg(snapshots[snapshots["profile_id"].isin(shown)], shown))


def metric_history_svg(snapshots: pd.DataFrame, profile_ids: list[str]) -> str:
    """One panel per header metric, one line per profile, over the capture dates."""
    with matplotlib.rc_context(CHART_RC):
        figure = Figure(figsize=(CHART_WIDTH_INCHES, 4.2), layout="constrained")
        grid = figure.subplots(2, 3, sharex=True)
        panels = list(grid.flat)
        lines = []
        for profile_id in profile_ids:
            history = snapshots[snapshots["profile_id"] == profile_id].sort_values("captured_date")
            dates = [dt.date.fromisoformat(str(value)) for value in history["captured_date"]]
            for axes, metric in zip(panels, HISTORY_METRICS):
                values = history[metric].astype("Float64").to_numpy(dtype=float, na_value=float("nan"))
                (line,) = axes.plot(dates, values, marker="o", markersize=3, linewidth=1.2)
            lines.append((line, history["name"].iloc[-1]))
        for axes, label in zip(panels, HISTORY_METRICS.values()):
            axes.set_title(label)
            axes.tick_params(labelbottom=True)  # the panel above the legend has none below it
            _integer_ticks(axes.yaxis)  # every metric is a count
            _day_ticks(axes)
        legend_panel = panels[-1]
        legend_panel.axis("off")
        legend_panel.legend([line for line, _ in lines], [name for _, name in lines], loc="upper left", frameon=False)
        return _svg(figure)


def inline_code(text: str) -> Markup:
    """Escape `text`, then show its Markdown `code spans` as <code> (schema descriptions use them)."""
    return Markup(_CODE_SPAN.sub(r"<code>\1</code>", str(escape(text))))


def filesize(size: int) -> str:
    """Bytes in the largest unit that keeps a number ≥ 1: `12.3 kB` (decimal units, as `ls --si`)."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _year_counts(table: pa.Table, column: str) -> pd.DataFrame:
    """Rows of an Arrow table per year and value of `column`: year, column, rows."""
    return table.group_by(["year", column]).aggregate([([], "count_all")]).rename_columns(["year", column, _ROWS]).to_pandas()


def _role_year_counts(authorships_path: Path, papers: PapersSummary) -> tuple[pd.DataFrame, int]:
    """Authorships per year of their paper and author role (year, author_role, rows), and the profiles they are on."""
    paper_ids, years = papers.paper_ids, papers.years
    counts: list[pd.DataFrame] = []
    profiles: set[str] = set()
    for batch in pq.ParquetFile(authorships_path).iter_batches(batch_size=_BATCH_ROWS, columns=["profile_id", "paper_id", "author_role"]):
        wanted = _paper_id_bytes(batch.column("paper_id"))
        found = np.minimum(np.searchsorted(paper_ids, wanted), max(len(paper_ids) - 1, 0))
        matched = paper_ids[found] == wanted if len(paper_ids) else np.zeros(len(wanted), bool)
        rows = pa.table({"year": years[found[matched]], "author_role": batch.column("author_role").filter(pa.array(matched))})
        counts.append(_year_counts(rows, "author_role"))
        profiles.update(pc.unique(batch.column("profile_id")).to_pylist())
    return _summed(counts, "author_role"), len(profiles)


def _summed(counts: list[pd.DataFrame], column: str) -> pd.DataFrame:
    """_year_counts of several batches as one."""
    if not counts:
        return pd.DataFrame(columns=["year", column, _ROWS])
    return pd.concat(counts).groupby(["year", column], as_index=False)[_ROWS].sum()


def _paper_id_bytes(paper_ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """paper_ids (16 hex digits each, as the schema requires) as a fixed-width byte array, without a Python object per id."""
    values = paper_ids.combine_chunks() if isinstance(paper_ids, pa.ChunkedArray) else paper_ids
    values = values.cast(pa.binary(ids.PAPER_ID_HEX_CHARS))
    return np.frombuffer(values.buffers()[1], f"S{ids.PAPER_ID_HEX_CHARS}", count=len(values), offset=values.offset * ids.PAPER_ID_HEX_CHARS)


def _count_by_year(counts: pd.DataFrame, column: str, series: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Rows per year (every year from first to last) and value of `column`, columns in `series` order (`counts` from _year_counts)."""
    if counts.empty:
        return pd.DataFrame()
    years = counts["year"].astype(int)
    table = pd.crosstab(years, counts[column], values=counts[_ROWS], aggfunc="sum").fillna(0).astype("int64")
    table = table.reindex(columns=list(series), fill_value=0)
    return table.reindex(range(years.min(), years.max() + 1), fill_value=0)


def _integer_ticks(axis: matplotlib.axis.Axis) -> None:
    """Ticks at whole numbers only, with thousands separators (12,000)."""
    axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))


def _day_ticks(axes: matplotlib.axes.Axes) -> None:
    """Up to four date ticks on whole days: captures have a date, no time of day.

    Left to itself, the locator ticks a span of one to four days every 12 hours, and from two days
    on warns that it found no interval: such a span has fewer days than its minimum of 5 ticks.
    Two ticks are enough, and a view of at least two days gets them at day boundaries.
    """
    low, high = axes.get_xlim()  # in days
    if high - low < 2:
        middle = (low + high) / 2
        axes.set_xlim(middle - 1, middle + 1)
    locator = matplotlib.dates.AutoDateLocator(minticks=2, maxticks=4)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))


def _chart(chart_id: str, title: str, caption: str, svg: str | None) -> Chart:
    """A chart whose SVG ids are prefixed with `chart_id`, so several charts can share one page.

    Markup (not escaped again) is safe: matplotlib's SVG writer escapes every text it draws, so
    the only `<` in the SVG open its own tags.
    """
    if svg is None:
        return Chart(chart_id, title, caption, None)
    scoped = _SVG_TAG.sub(lambda tag: _SVG_ID_REFERENCE.sub(lambda match: f"{match[1]}{chart_id}-", tag[0]), svg)
    return Chart(chart_id, title, caption, Markup(scoped))


def _svg(figure: Figure) -> str:
    """The figure as an <svg> element, without the XML declaration and doctype a standalone file has."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata=SVG_METADATA)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _dataset() -> dict:
    return {
        "title": settings.DATASET_TITLE,
        "description": settings.DATASET_DESCRIPTION,
        "license": settings.DATASET_LICENSE,
        "parser_version": settings.PARSER_VERSION,
    }


def _remove_stale_pages(pages_dir: Path, keep: set[Path]) -> None:
    """Drop pages of releases no longer listed (recover() removed a release that was never listed)."""
    if pages_dir.is_dir():
        for path in sorted(pages_dir.glob("*.html")):
            if path not in keep:
                path.unlink()


def _write_if_changed(path: Path, text: str) -> None:
    """Write atomically, and not at all when the bytes are already there: a no-change run writes nothing."""
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
