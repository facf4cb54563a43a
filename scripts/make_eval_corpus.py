"""Write the evaluation corpus: five documents, one per format, that the answer gold set asks about.

The documents are fiction written for Enclave's evaluation (no real plant, clinic or ship): each
states facts a model cannot guess (figures, names, codes, dates), surrounded by ordinary text so
retrieval has to find the right passage. ``assistant/evaluation/data/answer_gold.jsonl`` asks
about them; its unanswerable questions sit close to what the documents say but are not in them.

The PDF and DOCX are binary and committed; this script rebuilds them byte for byte the same
(fixed creation dates), so a change to a text here shows up as a change to the file.

Usage: .venv/bin/python scripts/make_eval_corpus.py [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "assistant" / "evaluation" / "data" / "corpus"
FIXED_DATE = datetime.datetime(2026, 1, 15, 9, 0, 0, tzinfo=datetime.UTC)

PDF_TITLE = "Kestrel Bay Water Treatment Plant - Annual Operations Report 2025"
PDF_PAGES: tuple[tuple[str, str], ...] = (
    (
        "1. Overview",
        "The Kestrel Bay Water Treatment Plant supplies drinking water to about 148,000 "
        "residents of Kestrel Bay and the Marlow district. The plant was commissioned in 1998 "
        "and draws raw water from Lake Ardra through a 6.5 kilometre intake tunnel. Since "
        "April 2023 the plant has been run by plant manager Tomasz Wierzbicki, who reports to "
        "the utility board every quarter. This report covers the calendar year 2025 and was "
        "approved by the board on 12 February 2026. Staffing stayed stable through the year, "
        "with 37 permanent employees working in three shifts.",
    ),
    (
        "2. Capacity and output",
        "The plant's design capacity is 62 million litres per day. Average daily output in "
        "2025 was 41.3 million litres, slightly above the 40.8 million litres of the year "
        "before. The highest demand came during the July heatwave: on 19 July 2025 the plant "
        "delivered 57.8 million litres, its peak day of the year. Treated water is pumped to "
        "four service reservoirs, the largest of which, Hollin Hill, holds 18 million litres. "
        "Energy use per million litres fell by 4 percent after the high-lift pumps were fitted "
        "with variable-speed drives in the spring.",
    ),
    (
        "3. Incidents and maintenance",
        "On 3 March 2025 the chlorine dosing pump CP-7 failed for 40 minutes during the night "
        "shift. Turbidity at the outlet rose to 1.8 NTU before the standby pump took over, and "
        "the regional health authority agreed that no boil-water notice was needed. The root "
        "cause was a cracked diaphragm, and all dosing pumps now have their diaphragms replaced "
        "every 18 months instead of every three years. In October 2025 filter bed 4 was "
        "rebuilt with new sand and gravel layers, which took the bed out of service for 23 "
        "days. No other incident required a report to the regulator.",
    ),
    (
        "4. Budget and investment",
        "The plant's operating budget for 2025 was 9.6 million euros, of which chemicals took "
        "2.1 million and electricity 3.4 million. The main capital project is a new "
        "ultraviolet disinfection stage, contracted to Halden Aqua AS in November 2025 for "
        "14.2 million euros. Construction starts in spring 2026, and the stage is due to enter "
        "service in June 2027. A second project, the replacement of the intake screens, was "
        "postponed to 2028 because the tenders exceeded the estimate.",
    ),
)

DOCX_TITLE = "Riverside Clinic - Medication Storage Procedure (SOP-114)"
DOCX_SECTIONS: tuple[tuple[str, str], ...] = (
    (
        "Scope",
        "This procedure applies to every ward and outpatient room of Riverside Clinic that "
        "stores medicines, including the day surgery unit. It was issued by the clinic's "
        "medicines committee and replaces version 3 of the same procedure.",
    ),
    (
        "Refrigerated storage",
        "Vaccines, insulin and other cold-chain medicines are kept in a dedicated medical "
        "refrigerator between 2 and 8 degrees Celsius. Food and specimens must never be stored "
        "in it. The minimum, maximum and current temperatures are read and recorded twice a "
        "day, at 08:00 and at 16:00, on the log sheet fixed to the refrigerator door.",
    ),
    (
        "Controlled drugs",
        "Controlled drugs are kept in a double-locked steel cabinet fixed to a wall. The keys "
        "are held by the nurse in charge of the shift and are handed over in person at every "
        "shift change. A full stock count is carried out every Monday morning and must be "
        "signed by two registered nurses.",
    ),
    (
        "Temperature excursions",
        "If the refrigerator has been outside the 2 to 8 degree range for more than 30 "
        "minutes, the affected medicines are placed in quarantine, labelled 'do not use', and "
        "the pharmacy is called on extension 2290. Quarantined stock may only be returned to "
        "use on the written advice of a pharmacist.",
    ),
    (
        "Review",
        "This procedure is owned by the chief pharmacist, Dr. Amara Osei. It is reviewed every "
        "two years; the next review is due on 1 September 2026. Questions about the procedure "
        "go to the medicines committee secretary.",
    ),
)

HTML_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Records retention schedule - Northfield County Archives</title>
<style>nav, footer { font-size: small; }</style>
</head>
<body>
<nav><a href="index.html">Home</a> | <a href="visit.html">Visit</a> |
<a href="search.html">Search the catalogue</a></nav>
<h1>Records retention schedule</h1>
<p>This schedule sets how long Northfield County keeps each kind of record before it is
destroyed or transferred to the permanent archive. It applies to every county department
and was adopted by the county council in May 2024.</p>
<h2>Retention periods</h2>
<ul>
<li>Personnel files are kept for seven years after the employee leaves the county's
service.</li>
<li>Financial records, including invoices and payroll, are kept for ten years from the end of
the financial year.</li>
<li>CCTV footage is kept for 31 days and then overwritten, unless it has been flagged for an
investigation.</li>
<li>Planning applications and their decisions are transferred to the permanent archive after
fifteen years.</li>
</ul>
<h2>Requesting early destruction or access</h2>
<p>A department that wants to destroy records before the end of their period, or to see
records already transferred, fills in form RR-20 and sends it to the County Archivist,
Helen Marsh. Requests are answered within ten working days.</p>
<h2>Visiting the archive</h2>
<p>The archive building is at 14 Tanner Street, Northfield, next to the old corn exchange.
The reading room is open Monday to Thursday from 09:30 to 17:00, and on Fridays it closes at
16:30. Visitors must bring photo identification, and pencils only may be used near
original documents.</p>
<footer>Northfield County Council - Archives service</footer>
</body>
</html>
"""

MARKDOWN_TEXT = """# Network operations runbook: site ORION

This runbook is for the engineers who keep the ORION data centre's network running. It is
reviewed after every major incident.

## Backups

Configuration backups of every router, switch and firewall run each night in the backup
window from 01:00 to 03:30. They are copied to the backup server `bkp-orion-01` and kept for
90 days. Do not schedule maintenance inside the backup window.

## Remote access

Engineers reach the management network through the VPN concentrator `vpn-gw-02`. Accounts
are personal; shared logins are forbidden. A lost hardware token must be reported to the
security desk the same day.

## On-call and escalation

The on-call rotation changes every Wednesday at 09:00. If the on-call engineer has not
acknowledged a critical alert within 15 minutes, the alert escalates to the duty manager,
currently Priya Raman. A critical alert is any loss of service affecting more than one rack.

## Changes

Firewall rule changes need a change ticket and the approval of two network engineers before
they are applied. Emergency changes may be applied first and approved within one working
day.

## Disaster recovery

The disaster recovery site is in Leeds, 190 kilometres from ORION. The recovery time
objective for the core network is four hours. A full failover test is run twice a year, in
March and in September.
"""

TEXT_LOG = """SURVEY VESSEL MV CORRIE - VOYAGE LOG SUMMARY, VOYAGE 2025-07

Prepared by the master, Captain Elin Sandvik, for the marine operations office.

Departure. MV Corrie departed Oban harbour at 06:15 on 12 August 2025 with a crew of nine
and two scientists from the coastal survey institute on board. The weather was fair, with a
light north-westerly wind.

Survey work. The task was to map the seabed of the Sound of Mull for the new ferry channel.
Multibeam sonar lines were run from the morning of 12 August until the early afternoon of
the next day.

Equipment failure. At 14:20 on 13 August the multibeam sonar lost its signal. The ship's
engineer, Callum Reid, traced the fault to a flooded transducer connector and fitted the
spare transducer. Survey work resumed at 19:05 the same day, and no survey lines had to be
repeated.

Return. The vessel returned to Oban at 17:40 on 16 August 2025. Fuel used during the voyage
was 8,400 litres of marine gas oil. There were no injuries or pollution incidents.

Next steps. The damaged connector was sent to the manufacturer for inspection. The next
voyage, 2025-08, is planned for the first week of October.
"""


def write_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(PDF_TITLE)
    pdf.set_auto_page_break(False)  # the footer sits below the break line; the text is short
    for number, (heading, text) in enumerate(PDF_PAGES, start=1):
        pdf.add_page()
        if number == 1:
            pdf.set_font("Helvetica", style="B", size=15)
            pdf.multi_cell(0, 8, PDF_TITLE, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        pdf.set_font("Helvetica", style="B", size=13)
        pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-20)
        pdf.set_font("Helvetica", size=9)
        pdf.cell(0, 6, f"Page {number} of {len(PDF_PAGES)}", align="C")
    pdf.output(str(path))


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    properties = document.core_properties
    properties.created = properties.modified = FIXED_DATE.replace(tzinfo=None)
    properties.author = "Riverside Clinic medicines committee"
    properties.title = DOCX_TITLE
    document.add_heading(DOCX_TITLE, level=0)
    for heading, text in DOCX_SECTIONS:
        document.add_heading(heading, level=1)
        document.add_paragraph(text)
    document.save(str(path))
    _fix_zip_times(path)


def _fix_zip_times(path: Path) -> None:
    """Rewrite a .docx with fixed member dates, so the same text gives the same bytes."""
    import zipfile

    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_DATE.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, data)


def build(out: Path) -> dict[str, Path]:
    """Write the five documents into ``out`` and return their paths by format."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "pdf": out / "kestrel-bay-annual-report-2025.pdf",
        "docx": out / "riverside-sop-114-medication-storage.docx",
        "html": out / "northfield-records-retention.html",
        "md": out / "orion-network-runbook.md",
        "txt": out / "mv-corrie-voyage-2025-07.txt",
    }
    write_pdf(files["pdf"])
    write_docx(files["docx"])
    files["html"].write_text(HTML_PAGE, encoding="utf-8")
    files["md"].write_text(MARKDOWN_TEXT, encoding="utf-8")
    files["txt"].write_text(TEXT_LOG, encoding="utf-8")
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for kind, path in build(args.out).items():
        print(f"{kind:5} {path}")


if __name__ == "__main__":
    main()
