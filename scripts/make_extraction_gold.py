"""Write the extraction gold set: twelve documents, four schemas and the values expected of them.

Four kinds of paperwork an analyst turns into records (invoices, incident reports, letters,
access-request forms), three of each, one per format (a two-page PDF, a DOCX and a plain-text
file). Every document also carries values a careless extractor would take instead (a due date
beside the issue date, a subtotal beside the total, a second person beside the reporter), and
some fields are absent on purpose: a correct extraction leaves them empty. The documents are
fiction written for Enclave's evaluation.

Writes ``assistant/evaluation/data/extraction/`` (the documents and ``schemas/``) and
``assistant/evaluation/data/extraction_gold.json``. The PDFs and DOCX files are rebuilt byte for
byte the same (fixed dates), so a change to a text here shows up as a change to the file.

Usage: .venv/bin/python scripts/make_extraction_gold.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from make_eval_corpus import FIXED_DATE, _fix_zip_times  # the same fixed dates, byte for byte

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "assistant" / "evaluation" / "data"

SCHEMAS: dict[str, dict[str, Any]] = {
    "invoice": {
        "title": "Invoice",
        "type": "object",
        "properties": {
            "invoice_number": {"type": "string"},
            "issue_date": {"type": "string", "format": "date"},
            "vendor": {"type": "string"},
            "customer": {"type": "string"},
            "total_amount": {"type": "number"},
            "purchase_order": {"type": "string"},
        },
        "required": ["invoice_number", "vendor", "total_amount"],
    },
    "incident": {
        "title": "Incident report",
        "type": "object",
        "properties": {
            "incident_id": {"type": "string"},
            "date": {"type": "string", "format": "date"},
            "location": {"type": "string"},
            "reported_by": {"type": "string"},
            "severity": {"enum": ["low", "medium", "high", "critical"]},
            "people_injured": {"type": "integer", "minimum": 0},
            "witness": {"type": "string"},
        },
        "required": ["incident_id"],
    },
    "letter": {
        "title": "Letter",
        "type": "object",
        "properties": {
            "sender": {"type": "string"},
            "recipient": {"type": "string"},
            "date": {"type": "string", "format": "date"},
            "subject": {"type": "string"},
            "reference": {"type": "string"},
        },
        "required": ["sender", "recipient"],
    },
    "access_request": {
        "title": "Access request form",
        "type": "object",
        "properties": {
            "applicant": {"type": "string"},
            "employee_id": {"type": "string"},
            "department": {"type": "string"},
            "access_level": {"enum": ["visitor", "standard", "restricted", "secret"]},
            "start_date": {"type": "string", "format": "date"},
            "approved_by": {"type": "string"},
        },
        "required": ["applicant"],
    },
}

# Each document: its file name, schema, pages (heading, text) and the expected values, each
# with the page it is on (None for formats without pages); None as a value means "absent".
Document = dict[str, Any]

DOCUMENTS: list[Document] = [
    {
        "file": "invoice-halden-aqua-4471.pdf",
        "schema": "invoice",
        "pages": [
            (
                "INVOICE",
                "Halden Aqua AS, Strandveien 41, 3183 Horten, Norway. Invoice number: "
                "HA-2025-4471. Date of issue: 14 November 2025. Payment due: 14 December 2025. "
                "Billed to: Kestrel Bay Water Utility, attention of Tomasz Wierzbicki, plant "
                "manager. Your purchase order: PO-88213. Description: ultraviolet disinfection "
                "stage, design phase, first milestone as agreed in the contract of November "
                "2025.",
            ),
            (
                "Amounts",
                "Engineering design, 120 hours: 18,600.00 EUR. Site survey and water "
                "sampling: 2,450.00 EUR. Subtotal: 21,050.00 EUR. VAT at 25 percent: 5,262.50 "
                "EUR. Total due: 26,312.50 EUR. Please pay by bank transfer and quote the "
                "invoice number as the payment reference.",
            ),
        ],
        "gold": {
            "invoice_number": ("HA-2025-4471", 1),
            "issue_date": ("2025-11-14", 1),
            "vendor": ("Halden Aqua AS", 1),
            "customer": ("Kestrel Bay Water Utility", 1),
            "total_amount": (26312.5, 2),
            "purchase_order": ("PO-88213", 1),
        },
    },
    {
        "file": "invoice-brightline-labs.docx",
        "schema": "invoice",
        "pages": [
            (
                "Brightline Laboratories Ltd - Invoice",
                "Invoice no. BL-0932. Issued on 2 September 2025 by Brightline Laboratories "
                "Ltd, Unit 7, Fenwick Science Park, Cambridge. Customer: Riverside Clinic, "
                "pharmacy department. Work carried out: calibration of two medication "
                "refrigerators and their temperature loggers, with certificates.",
            ),
            (
                "Charges",
                "Calibration, two refrigerators: 640.00 GBP. Loggers and certificates: 180.00 "
                "GBP. Net amount: 820.00 GBP. VAT at 20 percent: 164.00 GBP. Invoice total: "
                "984.00 GBP, payable within 30 days.",
            ),
        ],
        "gold": {
            "invoice_number": ("BL-0932", None),
            "issue_date": ("2025-09-02", None),
            "vendor": ("Brightline Laboratories Ltd", None),
            "customer": ("Riverside Clinic", None),
            "total_amount": (984.0, None),
            "purchase_order": (None, None),
        },
    },
    {
        "file": "invoice-moorcroft-catering.txt",
        "schema": "invoice",
        "pages": [
            (
                "MOORCROFT CATERING - INVOICE",
                "Invoice reference: MC/7781. Invoice date: 28 October 2025. From: Moorcroft "
                "Catering, 3 Quay Lane, Oban. To: Coastal Survey Institute, crew welfare "
                "fund. Order number PO-5530 from your office.\n\nCrew meals for voyage "
                "2025-07, eleven people for five days: 1,375.00 GBP. Delivery to the harbour: "
                "45.00 GBP. Total to pay: 1,420.00 GBP. A deposit of 400.00 GBP was paid in "
                "August and is not deducted here.",
            ),
        ],
        "gold": {
            "invoice_number": ("MC/7781", None),
            "issue_date": ("2025-10-28", None),
            "vendor": ("Moorcroft Catering", None),
            "customer": ("Coastal Survey Institute", None),
            "total_amount": (1420.0, None),
            "purchase_order": ("PO-5530", None),
        },
    },
    {
        "file": "incident-cp7-dosing-pump.pdf",
        "schema": "incident",
        "pages": [
            (
                "Incident report IR-2025-031",
                "Site: Kestrel Bay Water Treatment Plant, chemical dosing room. Date of the "
                "incident: 3 March 2025, night shift. Reported by: Marta Kowalczyk, shift "
                "operator. The chlorine dosing pump CP-7 stopped for 40 minutes. Turbidity at "
                "the outlet rose to 1.8 NTU before the standby pump took over.",
            ),
            (
                "Assessment",
                "Severity: medium. Nobody was injured and no boil-water notice was needed. "
                "The report was reviewed on 5 March 2025 by the plant manager, who ordered "
                "that all dosing pump diaphragms be replaced every 18 months.",
            ),
        ],
        "gold": {
            "incident_id": ("IR-2025-031", 1),
            "date": ("2025-03-03", 1),
            "location": ("Kestrel Bay Water Treatment Plant, chemical dosing room", 1),
            "reported_by": ("Marta Kowalczyk", 1),
            "severity": ("medium", 2),
            "people_injured": (0, 2),
            "witness": (None, None),
        },
    },
    {
        "file": "incident-forklift-warehouse.docx",
        "schema": "incident",
        "pages": [
            (
                "Incident report WH-118",
                "Location: central warehouse, loading bay 3. Date: 21 January 2025. Reported "
                "by: Daniel Mensah, warehouse supervisor. A forklift reversing out of bay 3 "
                "struck a pallet rack. Two people were injured: one driver with a sprained "
                "wrist and one picker with bruising. The incident was witnessed by Sofia "
                "Petrova from the goods-in office.",
            ),
            (
                "Classification",
                "Severity: high. The rack was emptied and inspected the same day; it was "
                "back in use on 24 January 2025 after two uprights were replaced.",
            ),
        ],
        "gold": {
            "incident_id": ("WH-118", None),
            "date": ("2025-01-21", None),
            "location": ("central warehouse, loading bay 3", None),
            "reported_by": ("Daniel Mensah", None),
            "severity": ("high", None),
            "people_injured": (2, None),
            "witness": ("Sofia Petrova", None),
        },
    },
    {
        "file": "incident-server-room-cooling.txt",
        "schema": "incident",
        "pages": [
            (
                "INCIDENT REPORT - ORION DATA CENTRE",
                "Incident number: ORN-INC-2207\nDate: 9 June 2025\nLocation: ORION server "
                "hall B\nReported by: Priya Raman, duty manager\n\nAt 02:10 one of the two "
                "chillers of hall B tripped and the room temperature rose to 31 degrees before "
                "the second chiller took the full load at 02:35. Two racks throttled their "
                "servers; no service was lost and nobody was hurt. Severity: low. The "
                "chiller's compressor relay was replaced on 11 June 2025.",
            ),
        ],
        "gold": {
            "incident_id": ("ORN-INC-2207", None),
            "date": ("2025-06-09", None),
            "location": ("ORION server hall B", None),
            "reported_by": ("Priya Raman", None),
            "severity": ("low", None),
            "people_injured": (0, None),
            "witness": (None, None),
        },
    },
    {
        "file": "letter-archive-transfer.pdf",
        "schema": "letter",
        "pages": [
            (
                "Northfield County Archives",
                "14 Tanner Street, Northfield. 6 May 2025. Our reference: NCA/TR/2025/19. To "
                "Mr Owen Hartley, Head of Planning, Northfield County Council. Subject: "
                "Transfer of planning files from 2008 and 2009.",
            ),
            (
                "",
                "Dear Mr Hartley, the planning applications decided in 2008 and 2009 are now "
                "due for transfer to the permanent archive. Please have them boxed and listed "
                "by 30 June 2025; our van will collect them in the first week of July. Yours "
                "sincerely, Helen Marsh, County Archivist.",
            ),
        ],
        "gold": {
            "sender": ("Helen Marsh", 2),
            "recipient": ("Owen Hartley", 1),
            "date": ("2025-05-06", 1),
            "subject": ("Transfer of planning files from 2008 and 2009", 1),
            "reference": ("NCA/TR/2025/19", 1),
        },
    },
    {
        "file": "letter-lease-renewal.docx",
        "schema": "letter",
        "pages": [
            (
                "Fenwick Science Park Estates",
                "17 February 2025. To: Dr Amara Osei, Director, Riverside Clinic. Subject: "
                "Renewal of the lease of Unit 12.",
            ),
            (
                "Letter",
                "Dear Dr Osei, the lease of Unit 12 ends on 31 May 2025. We are pleased to "
                "offer a renewal for five years at an annual rent of 48,000 GBP, with a rent "
                "review after three years. Please let us know by 31 March 2025 whether you "
                "accept. With kind regards, Graham Whitlock, Estates Manager.",
            ),
        ],
        "gold": {
            "sender": ("Graham Whitlock", None),
            "recipient": ("Amara Osei", None),
            "date": ("2025-02-17", None),
            "subject": ("Renewal of the lease of Unit 12", None),
            "reference": (None, None),
        },
    },
    {
        "file": "letter-audit-findings.txt",
        "schema": "letter",
        "pages": [
            (
                "MARLOW DISTRICT AUDIT OFFICE",
                "Reference: MDA-2025-044\n8 September 2025\n\nTo: Captain Elin Sandvik, "
                "master of MV Corrie\n\nSubject: Fuel records audit for voyage 2025-07\n\n"
                "Dear Captain Sandvik,\n\nour audit of the fuel records for voyage 2025-07 "
                "found that the logged consumption of 8,400 litres matches the bunker "
                "receipts. One receipt, dated 11 August 2025, was unsigned; please send a "
                "signed copy within 20 working days.\n\nYours faithfully,\nRuth Abernethy\n"
                "Senior Auditor",
            ),
        ],
        "gold": {
            "sender": ("Ruth Abernethy", None),
            "recipient": ("Elin Sandvik", None),
            "date": ("2025-09-08", None),
            "subject": ("Fuel records audit for voyage 2025-07", None),
            "reference": ("MDA-2025-044", None),
        },
    },
    {
        "file": "access-request-okafor.pdf",
        "schema": "access_request",
        "pages": [
            (
                "Form AR-7: request for building and system access",
                "Applicant: Chidi Okafor. Employee number: E-40712. Department: clinical "
                "records. Access level requested: restricted. Access needed from 1 December "
                "2025. Reason: the applicant joins the records team and needs the scanned "
                "patient files.",
            ),
            (
                "Approval",
                "Approved by Dr Amara Osei, clinic director, on 20 November 2025. The "
                "request was first checked by the security desk, officer Leon Brandt.",
            ),
        ],
        "gold": {
            "applicant": ("Chidi Okafor", 1),
            "employee_id": ("E-40712", 1),
            "department": ("clinical records", 1),
            "access_level": ("restricted", 1),
            "start_date": ("2025-12-01", 1),
            "approved_by": ("Amara Osei", 2),
        },
    },
    {
        "file": "access-request-lindqvist.docx",
        "schema": "access_request",
        "pages": [
            (
                "Access request",
                "Name of applicant: Ingrid Lindqvist. Staff ID: S-2291. Department: network "
                "operations. Level of access: standard. Requested start: 3 March 2025.",
            ),
            (
                "Status",
                "This request is waiting for approval. It was submitted on 24 February 2025 "
                "and forwarded to the duty manager.",
            ),
        ],
        "gold": {
            "applicant": ("Ingrid Lindqvist", None),
            "employee_id": ("S-2291", None),
            "department": ("network operations", None),
            "access_level": ("standard", None),
            "start_date": ("2025-03-03", None),
            "approved_by": (None, None),
        },
    },
    {
        "file": "access-request-tanaka.txt",
        "schema": "access_request",
        "pages": [
            (
                "VISITOR AND STAFF ACCESS REQUEST",
                "Applicant ......... Hiroshi Tanaka\nEmployee ID ....... T-0588\nDepartment "
                "........ marine survey\nAccess level ...... visitor\nStart date ........ 15 "
                "September 2025\n\nApproved by: Callum Reid, ship's engineer, for the "
                "duration of the dry-dock inspection only.",
            ),
        ],
        "gold": {
            "applicant": ("Hiroshi Tanaka", None),
            "employee_id": ("T-0588", None),
            "department": ("marine survey", None),
            "access_level": ("visitor", None),
            "start_date": ("2025-09-15", None),
            "approved_by": ("Callum Reid", None),
        },
    },
]


def write_pdf(path: Path, pages: list[tuple[str, str]]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_auto_page_break(False)
    for number, (heading, text) in enumerate(pages, start=1):
        pdf.add_page()
        if heading:
            pdf.set_font("Helvetica", style="B", size=14)
            pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-20)
        pdf.set_font("Helvetica", size=9)
        pdf.cell(0, 6, f"Page {number} of {len(pages)}", align="C")
    pdf.output(str(path))


def write_docx(path: Path, pages: list[tuple[str, str]]) -> None:
    import docx

    document = docx.Document()
    properties = document.core_properties
    properties.created = properties.modified = FIXED_DATE.replace(tzinfo=None)
    for heading, text in pages:
        document.add_heading(heading, level=1)
        document.add_paragraph(text)
    document.save(str(path))
    _fix_zip_times(path)


def write_text(path: Path, pages: list[tuple[str, str]]) -> None:
    path.write_text("\n\n".join(f"{h}\n\n{t}" for h, t in pages) + "\n", encoding="utf-8")


def gold_records() -> list[dict[str, Any]]:
    """The gold set as written to ``extraction_gold.json``."""
    records = []
    for document in DOCUMENTS:
        fields = {
            name: {"value": value, "page": page} for name, (value, page) in document["gold"].items()
        }
        records.append({"document": document["file"], "schema": document["schema"],
                        "fields": fields})  # fmt: skip
    return records


def build(out: Path) -> list[Path]:
    """Write the documents and schemas into ``out`` and return the documents' paths."""
    (out / "schemas").mkdir(parents=True, exist_ok=True)
    for name, schema in SCHEMAS.items():
        text = json.dumps(schema, indent=2) + "\n"
        (out / "schemas" / f"{name}.json").write_text(text, encoding="utf-8")
    written = []
    for document in DOCUMENTS:
        path = out / document["file"]
        writer = {".pdf": write_pdf, ".docx": write_docx, ".txt": write_text}[path.suffix]
        writer(path, document["pages"])
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA / "extraction")
    parser.add_argument("--gold", type=Path, default=DATA / "extraction_gold.json")
    args = parser.parse_args()
    for path in build(args.out):
        print(path)
    text = json.dumps(gold_records(), indent=2, ensure_ascii=False) + "\n"
    args.gold.write_text(text, encoding="utf-8")
    print(args.gold)


if __name__ == "__main__":
    main()
