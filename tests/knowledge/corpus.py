"""Builders for a small test corpus: every fact sits on a known page or under a known heading."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

# One fact per page of the report; the tests ask about each in other words.
REPORT_PAGES: tuple[str, ...] = (
    "Project Nightjar overview. The Nightjar programme began in 2019 to replace the ageing "
    "coastal radar network along the northern fjords.",
    "Budget. The total approved budget for fiscal year 2024 is 4.2 million euros, most of it "
    "committed to maintenance contracts for the radar stations.",
    "Personnel. Dr. Ingrid Halvorsen leads the field engineering team of twelve technicians "
    "based in Tromso, who service the stations every spring.",
    "Spare parts. The replacement valve AB-1234/X must be ordered from the Bergen warehouse; "
    "the lead time is six weeks.",
)

DOCX_SECTIONS: tuple[tuple[str, str], ...] = (
    ("Safety procedures", "Before entering the reactor hall, staff must wear a personal "
     "dosimeter and sign the access log at the guard post."),
    ("Waste handling", "Contaminated gloves are sealed in yellow bags and collected on "
     "Thursdays by the disposal contractor."),
)  # fmt: skip

HTML_PAGE = """<!doctype html>
<html><head><title>Archive guide</title>
<style>body { color: red; } .hidden { display: none }</style>
<script>var token = "SCRIPTSECRET"; console.log("SCRIPTSECRET");</script>
</head><body>
<nav>Home | About</nav>
<h1>Opening hours</h1>
<p>The archive reading room is open from nine to three on weekdays and closed on public
holidays.</p>
<h2>Borrowing</h2>
<p>Visitors may borrow at most five folders at a time, and must return them before closing.</p>
<script>document.write("SCRIPTSECRET")</script>
</body></html>
"""

MARKDOWN_TEXT = """# Field manual

Intro line.

## Calibration

The antenna must be recalibrated after every storm with winds above 25 metres per second.

## Contacts

The duty officer can be reached on extension 4471.
"""


def write_pdf(path: Path, pages: Sequence[str]) -> Path:
    """A PDF with one text block per page (page N holds ``pages[N-1]``)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def write_image_only_pdf(path: Path, pages: int = 2) -> Path:
    """A PDF whose pages hold only drawings: no text layer, as a scan would."""
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        pdf.set_fill_color(40, 40, 40)
        pdf.rect(20, 20, 120, 80, style="F")
    pdf.output(str(path))
    return path


def write_encrypted_pdf(path: Path, text: str = "Top secret launch codes.") -> Path:
    """A PDF that opens only with a user password."""
    import pypdf

    plain = io.BytesIO()
    write_pdf(path, [text])
    plain.write(path.read_bytes())
    plain.seek(0)
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(plain))
    writer.encrypt(user_password="hunter2", owner_password="owner", algorithm="AES-128")
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def write_docx(path: Path, sections: Sequence[tuple[str, str]] = DOCX_SECTIONS) -> Path:
    """A Word document with a title and one heading per section."""
    import docx

    document = docx.Document()
    document.add_heading("Plant handbook", level=0)
    for heading, text in sections:
        document.add_heading(heading, level=1)
        document.add_paragraph(text)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Room"
    table.cell(0, 1).text = "Badge"
    table.cell(1, 0).text = "Reactor hall"
    table.cell(1, 1).text = "Red"
    document.save(str(path))
    return path


def write_eml(path: Path) -> Path:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "ops@example.org"
    message["To"] = "analyst@example.org"
    message["Subject"] = "Convoy schedule"
    message["Date"] = "Mon, 04 Mar 2024 10:00:00 +0000"
    message.set_content("The next supply convoy leaves Narvik on Friday at dawn.")
    message.add_attachment(b"binary", maintype="application", subtype="octet-stream",
                           filename="route.bin")  # fmt: skip
    path.write_bytes(bytes(message))
    return path


def build_corpus(folder: Path) -> dict[str, Path]:
    """Write one file of each supported kind (plus nothing bad) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "report": write_pdf(folder / "nightjar-report.pdf", REPORT_PAGES),
        "handbook": write_docx(folder / "handbook.docx"),
        "guide": folder / "archive-guide.html",
        "manual": folder / "field-manual.md",
        "note": folder / "note.txt",
        "table": folder / "stations.csv",
        "mail": write_eml(folder / "convoy.eml"),
    }
    files["guide"].write_text(HTML_PAGE, encoding="utf-8")
    files["manual"].write_text(MARKDOWN_TEXT, encoding="utf-8")
    files["note"].write_text(
        "Reminder: the generator in hangar 7 needs new fuel filters before winter.\n",
        encoding="utf-8",
    )
    files["table"].write_text(
        "station,latitude,status\nSkarvik,69.1,operational\nHammerodde,70.2,under repair\n",
        encoding="utf-8",
    )
    return files
