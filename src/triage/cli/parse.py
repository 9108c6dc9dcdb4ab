"""`triage parse FILE --out OUT.csv`: Loghub-structured CSV through the same redaction, masking and mining as ingest.

Nothing is stored: a fresh parser (built from the same Settings and rules ingest uses) reads the file and
the CSV gets ``LineId`` (1, 2, ... over records), the header fields and ``Content`` (both redacted), ``EventId``
(the stable id of the line's template at the end of the file, i.e. after any merge) and ``EventTemplate``
(that template's final text, ``<*>`` for variables).
Lines that are not records (quarantined) are counted, not written.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from triage.cli._common import print_json, settings_of
from triage.errors import InvalidInput

BATCH = 20_000


def register(app: typer.Typer) -> None:
    app.command("parse")(parse_command)


def parse_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The log file to parse.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the structured CSV.")],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="A preset (hdfs, openssh, syslog, json, ...) or a Loghub format string with <Content>; "
            "detected from the file when omitted.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line with the counts.")] = False,
) -> None:
    """Parse one log file into a Loghub-style structured CSV (templates per line), without the store."""
    from triage.ingest.readers import open_log
    from triage.ingest.schemas import LogRecord
    from triage.parsing import ParserConfig, TemplateParser

    settings = settings_of(ctx)
    started = time.perf_counter()
    out = out.expanduser()
    if out.exists() and out.is_dir():
        raise InvalidInput(f"--out {out} is a directory; give a file name such as {out / 'parsed.csv'}")
    if not out.parent.is_dir():
        raise InvalidInput(f"--out {out}: folder {out.parent} does not exist")
    parser = TemplateParser(ParserConfig.from_settings(settings))

    lines = records = quarantined = 0
    with open_log(file, format) as reader:
        from triage.ingest.presets import compile_format

        field_names = list(compile_format(reader.spec).field_names)
        dynamic_fields = not field_names  # JSON lines: the fields each record carries
        fd, interim_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
        interim = Path(interim_name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                batch: list[LogRecord] = []

                def flush() -> None:
                    for event, record in zip(parser.parse_batch(batch), batch, strict=True):
                        if dynamic_fields:
                            for name in record.fields:
                                if name not in field_names:
                                    field_names.append(name)
                        # header fields pass the same redaction as the message (JSON lines carry any key)
                        fields = {name: parser.redact(value) for name, value in record.fields.items()}
                        row = [event.template_id, fields, event.content]
                        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    batch.clear()

                for item in reader:
                    lines += item.n_lines if isinstance(item, LogRecord) else 1
                    if isinstance(item, LogRecord):
                        records += 1
                        batch.append(item)
                        if len(batch) >= BATCH:
                            flush()
                    else:
                        quarantined += 1
                flush()
            format_label = reader.spec.label
            _finish(interim, out, parser, field_names)
        finally:
            interim.unlink(missing_ok=True)

    summary = {
        "file": str(file),
        "out": str(out),
        "format": format_label,
        "lines": lines,
        "records": records,
        "quarantined": quarantined,
        "templates": sum(1 for t in parser.templates() if t.merged_into is None),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if as_json:
        print_json(summary)
    else:
        typer.echo(
            f"{records:,} records ({quarantined:,} quarantined lines) -> {summary['templates']:,} templates"
            f" in {summary['seconds']:.1f} s; wrote {out}"
        )


def _finish(interim: Path, out: Path, parser: object, field_names: list[str]) -> None:
    """Second pass over the interim JSON lines: final template text per line, Loghub column order,
    atomic replace of ``out``."""
    from triage.parsing import TemplateParser

    assert isinstance(parser, TemplateParser)
    templates = parser.templates()
    texts = {t.template_id: t.text for t in templates}
    final_id = {t.template_id: t.merged_into or t.template_id for t in templates}  # merged -> survivor
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with (
            os.fdopen(fd, "w", newline="", encoding="utf-8") as handle,
            interim.open(encoding="utf-8") as source,
        ):
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["LineId", *field_names, "Content", "EventId", "EventTemplate"])
            for line_id, line in enumerate(source, start=1):
                template_id, fields, content = json.loads(line)
                writer.writerow(
                    [
                        line_id,
                        *(fields.get(name, "") for name in field_names),
                        content,
                        final_id[template_id],
                        texts[template_id],
                    ]
                )
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp made it 0600; give it a normal file's mode
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
