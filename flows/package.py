"""The release package: Frictionless datapackage.json, dataset card, SHA256SUMS, and `verify` against them."""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path

import pandera.pandas as pa
import pyarrow

import schemas
from flows import formats, settings
from flows.checksums import sha256_file

DATAPACKAGE = "datapackage.json"
CARD = "README.md"
CHECKSUMS = "SHA256SUMS"
ROWS = "rows"
EXTRA_ROWS = "x-rows"
VALIDATION_REPORT = "validation.json"
# Files verified at a time: reading, hashing and Arrow's readers release the GIL.
_VERIFY_THREADS = 4
CSV_DIALECT = {"header": True, "delimiter": ",", "lineTerminator": "\n", "quoteChar": '"', "doubleQuote": True}
_FORMULA_POLICY = (
    "Text is published exactly as captured in every format. A title or name that starts with "
    "`=`, `+`, `-` or `@` is not altered in the CSV files; spreadsheet users who open the CSV "
    "directly should import it as text (or use the Parquet or JSON Lines files)."
)


def datapackage(release_id: str, as_of_date: str, directory: Path, row_counts: dict[str, int],
                files: dict[str, formats.WrittenFile]) -> dict:
    """The Frictionless Data Package descriptor of the files in `directory`.

    CSV files are the tabular resources, with a Table Schema generated from `schemas/` (so
    `frictionless validate` checks every value, key and reference); the Parquet and JSON Lines
    copies of each table are file resources with bytes, hash and `x-rows` (Frictionless reads
    neither format's row count, and fails on an empty JSON Lines file). `files` holds the bytes
    and sha256 of each table file as its writer recorded them.
    """
    resources = []
    for table in schemas.TABLES:
        for file_format in formats.FORMATS:
            path = directory / formats.table_file(table, file_format)
            written = files[path.name]
            is_table = file_format == "csv"
            resource = {
                "name": f"{table}-{file_format}",
                "type": "table" if is_table else "file",
                "path": path.name,
                "format": file_format,
                "mediatype": formats.MEDIA_TYPES[file_format],
                "encoding": "utf-8",
                "bytes": written.bytes,
                "hash": f"sha256:{written.sha256}",
                ROWS if is_table else EXTRA_ROWS: row_counts[table],
                "x-table": table,
                "description": schemas.TABLES[table].description,
            }
            if is_table:
                resource["schema"] = table_schema(table, file_format)
                resource["dialect"] = {"csv": CSV_DIALECT}
            resources.append(resource)
    return {
        "name": settings.DATASET_TITLE,
        "title": "paper-profiles: researcher profiles and their papers",
        "description": settings.DATASET_DESCRIPTION,
        "version": release_id,
        "x-as-of-date": as_of_date,
        "x-parser-version": settings.PARSER_VERSION,
        "licenses": [
            {"name": settings.DATASET_LICENSE, "path": "https://creativecommons.org/licenses/by/4.0/", "title": "Creative Commons Attribution 4.0"}
        ],
        "resources": resources,
    }


def table_schema(table: str, file_format: str) -> dict:
    """A Frictionless Table Schema for one table, generated from its pandera model."""
    model = schemas.TABLES[table]
    fields = []
    for name, column in model.schema.columns.items():
        field = {"name": name, "description": column.description or ""}
        field.update(_field_type(column, file_format))
        constraints = _constraints(column, single_key=model.primary_key == (name,))
        if schemas.is_list_column(column) and file_format == "csv":
            constraints.pop("required", None)  # an empty list is an empty CSV field
        if constraints:
            field["constraints"] = constraints
        fields.append(field)
    descriptor = {"fields": fields, "primaryKey": list(model.primary_key), "missingValues": [""]}
    if model.foreign_keys:
        descriptor["foreignKeys"] = [
            {"fields": list(columns), "reference": {"resource": f"{target}-{file_format}", "fields": list(target_columns)}}
            for columns, target, target_columns in model.foreign_keys
        ]
    return descriptor


def write_checksums(directory: Path, files: dict[str, formats.WrittenFile]) -> None:
    """SHA256SUMS over every other file of the release, in `sha256sum -c` format (table files as their writers hashed them)."""
    lines = [
        f"{files[path.name].sha256 if path.name in files else sha256_file(path)}  {path.name}"
        for path in sorted(directory.iterdir()) if path.name != CHECKSUMS and path.is_file()
    ]
    (directory / CHECKSUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_checksums(directory: Path) -> dict[str, str]:
    """A release's SHA256SUMS as {file name: sha256}; empty when it has none."""
    path = directory / CHECKSUMS
    if not path.is_file():
        return {}
    return {name: digest for digest, _, name in (line.partition("  ") for line in path.read_text("utf-8").splitlines())}


def verify_release(directory: Path) -> list[str]:
    """Check a release folder against its SHA256SUMS and datapackage.json; returns every problem found.

    Each file is read once for its hash and once more for its row count, files in parallel.
    """
    problems: list[str] = []
    checksums_path = directory / CHECKSUMS
    if not checksums_path.is_file():
        return [f"{checksums_path}: missing"]
    listed = [line.partition("  ") for line in checksums_path.read_text("utf-8").splitlines()]
    package_path = directory / DATAPACKAGE
    try:
        package = json.loads(package_path.read_text("utf-8")) if package_path.is_file() else None
    except ValueError as error:
        package, package_problem = None, f"{package_path}: not valid JSON ({error})"
    else:
        package_problem = None if package is not None else f"{package_path}: missing"
    resources = package.get("resources", []) if package else []
    resource_paths = [directory / resource["path"] for resource in resources]
    paths = sorted({directory / name for _, _, name in listed} | set(resource_paths))
    with concurrent.futures.ThreadPoolExecutor(max_workers=_VERIFY_THREADS) as pool:
        hashes = dict(zip(paths, pool.map(_sha256_if_file, paths)))
        listed_hashes = [resource["hash"] for resource in resources]
        row_counts = dict(zip(resource_paths, pool.map(_rows_if_intact, resource_paths, listed_hashes, [hashes[path] for path in resource_paths])))
    for number, (expected, _, name) in enumerate(listed, start=1):
        path = directory / name
        if hashes[path] is None:
            problems.append(f"{path}: missing (listed in {CHECKSUMS} line {number})")
        elif hashes[path] != expected:
            problems.append(f"{path}: sha256 differs from {CHECKSUMS} line {number}")
    if package_problem:
        return problems + [package_problem]
    for resource in resources:
        path = directory / resource["path"]
        if hashes[path] is None:
            problems.append(f"{path}: missing (resource {resource['name']})")
            continue
        size = path.stat().st_size
        if size != resource["bytes"]:
            problems.append(f"{path}: {size} bytes, {DATAPACKAGE} says {resource['bytes']}")
        if f"sha256:{hashes[path]}" != resource["hash"]:
            problems.append(f"{path}: sha256 differs from {DATAPACKAGE}")
            continue  # a damaged file's row count means nothing
        rows = row_counts[path]
        if isinstance(rows, Exception):
            problems.append(f"{path}: unreadable ({rows})")
            continue
        expected_rows = resource.get(ROWS, resource.get(EXTRA_ROWS))
        if rows != expected_rows:
            problems.append(f"{path}: {rows} rows, {DATAPACKAGE} says {expected_rows}")
    return problems


def _sha256_if_file(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def _rows_if_intact(path: Path, listed_hash: str, sha256: str | None) -> int | Exception | None:
    """Rows in a file whose hash is the one listed; the error when it cannot be read."""
    if sha256 is None or f"sha256:{sha256}" != listed_hash:
        return None
    try:
        return formats.count_rows(path)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        return error


def dataset_card(release_id: str, as_of_date: str, row_counts: dict[str, int], validation: dict) -> str:
    """The release's README.md: a dataset card with a Hugging Face YAML header and the data dictionary."""
    configs = "\n".join(
        f"- config_name: {table}\n  data_files: {formats.table_file(table, 'parquet')}" + ("\n  default: true" if table == "papers" else "")
        for table in schemas.TABLES
    )
    counts = "\n".join(f"| `{table}` | {row_counts[table]:,} | {schemas.TABLES[table].description} |" for table in schemas.TABLES)
    accounting = validation.get("accounting", {})
    return f"""---
license: cc-by-4.0
pretty_name: paper-profiles
language:
- en
tags:
- scholarly
- bibliometrics
configs:
{configs}
---

# paper-profiles — release {release_id}

{settings.DATASET_DESCRIPTION}

- **Release:** `{release_id}`, data as of {as_of_date} (the newest capture date in it).
- **Source:** raw text captured from researcher profile pages of an AI-paper aggregator site,
  archived unchanged with its sha256 (`source_file`, `source_sha256` on every row).
- **How it was made:** a Prefect flow extracts records from the raw text, validates them with
  pandera schemas, derives author roles, code availability, arXiv categories, dates and stable
  ids, validates again and publishes. Parser version {settings.PARSER_VERSION}.
  Paper blocks found: {accounting.get('paper_blocks_found', 0)}, published:
  {accounting.get('published', 0)}, rejected with a reason: {accounting.get('rejected', 0)}.
- **Licence:** data under Creative Commons Attribution 4.0 (CC BY 4.0); the texts (titles,
  abstracts) remain their authors'.
- **Citation:** paper-profiles contributors, *paper-profiles: researcher profiles and their
  papers*, release {release_id} (data as of {as_of_date}).

## Files

Every table comes in three formats that load to the same table:

- `.parquet`: typed (dates as dates, lists as lists); the best choice for pandas, DuckDB, polars, R.
- `.csv`: RFC 4180, UTF-8, `\\n` line ends, header row; lists joined by `; `; dates ISO
  (`2023-07-31`); booleans `true`/`false`; empty field = missing.
- `.jsonl`: JSON Lines, one object per row; lists as arrays, dates as ISO strings. JSON Lines
  rather than one JSON array so that 400,000-row tables can be streamed.

{_FORMULA_POLICY}

`datapackage.json` (Frictionless) lists every file with bytes, sha256, rows and schema;
`SHA256SUMS` works with `sha256sum -c SHA256SUMS`; `python -m flows verify DIR` checks both.
`validation.json` is the validation report; `changes.*` lists what changed since the previous release.

| table | rows | one row per |
|---|---:|---|
{counts}

## Data dictionary

{dictionary_markdown()}
"""


def dictionary_markdown() -> str:
    """The data dictionary as Markdown tables, one per published table."""
    sections = []
    for table_name, table in schemas.TABLES.items():
        rows = [
            f"| `{entry['column']}` | {entry['type']}{'' if entry['nullable'] else ', required'}{', key' if entry['is_key'] else ''} | {entry['description']} |"
            for entry in schemas.dictionary()
            if entry["table"] == table_name
        ]
        key = ", ".join(f"`{column}`" for column in table.primary_key)
        sections.append(f"### `{table_name}`\n\n{table.description} Key: {key}.\n\n| column | type | description |\n|---|---|---|\n" + "\n".join(rows))
    return "\n\n".join(sections)


def _field_type(column: pa.Column, file_format: str) -> dict:
    logical = schemas.logical_type(column)
    if logical == "list of strings":
        if file_format == "csv":
            return {"type": "string", "x-list-separator": formats.LIST_SEPARATOR}
        return {"type": "array"}
    if logical == "boolean":
        return {"type": "boolean", "trueValues": ["true"], "falseValues": ["false"]}
    return {"type": logical}


def _constraints(column: pa.Column, single_key: bool) -> dict:
    constraints: dict = {}
    if not column.nullable:
        constraints["required"] = True
    if column.unique or single_key:
        constraints["unique"] = True
    for check in column.checks:
        statistics = check.statistics or {}
        if check.name == "isin":
            constraints["enum"] = list(statistics["allowed_values"])
        elif check.name in ("greater_than_or_equal_to",):
            constraints["minimum"] = statistics["min_value"]
        elif check.name == "in_range":
            constraints["minimum"] = statistics["min_value"]
            constraints["maximum"] = statistics["max_value"]
        elif check.name == "str_matches":
            # Table Schema patterns are implicitly anchored.
            constraints["pattern"] = str(statistics["pattern"]).removeprefix("^").removesuffix("$")
        elif check.name == "str_length":
            if statistics.get("min_value") is not None:
                constraints["minLength"] = statistics["min_value"]
            if statistics.get("max_value") is not None:
                constraints["maxLength"] = statistics["max_value"]
    return constraints
