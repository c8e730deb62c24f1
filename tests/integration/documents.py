"""Documents the transcoding tests make: a PDF with reportlab, a PPTX with python-pptx, a DOCX
with python-docx, an XLSX with openpyxl, an encrypted PDF with pypdf."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, pages: int = 3, red_on: int = 2, size=(960, 540)) -> Path:
    """A PDF of `pages` pages of `size` points; page `red_on` has a red square in its middle."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=size)
    for page in range(1, pages + 1):
        c.drawString(40, size[1] - 60, f"page {page}")
        if page == red_on:
            c.setFillColorRGB(1, 0, 0)
            c.rect(size[0] / 2 - 100, size[1] / 2 - 100, 200, 200, stroke=0, fill=1)
            c.setFillColorRGB(0, 0, 0)
        c.showPage()
    c.save()
    return path


def make_pptx(path: Path, slides: int = 3, red_on: int = 2) -> Path:
    """A 16:9 deck; slide `red_on` has a red rectangle in its middle."""
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.enum.shapes import MSO_SHAPE
    from pptx.util import Inches

    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    for n in range(1, slides + 1):
        slide = deck.slides.add_slide(deck.slide_layouts[6])
        slide.shapes.add_textbox(Inches(1), Inches(0.5), Inches(5), Inches(1)).text_frame.text = f"slide {n}"
        if n == red_on:
            shape = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, Inches(5.17), Inches(2.75), Inches(3), Inches(2))
            shape.fill.solid()
            shape.fill.fore_color.rgb = RGBColor(255, 0, 0)
            shape.line.fill.background()
    deck.save(str(path))
    return path


def make_docx(path: Path, pages: int = 2) -> Path:
    from docx import Document
    from docx.enum.text import WD_BREAK

    document = Document()
    for n in range(1, pages + 1):
        paragraph = document.add_paragraph(f"Page {n} of the document.")
        if n < pages:
            paragraph.add_run().add_break(WD_BREAK.PAGE)
    document.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in range(1, 21):
        sheet.append([f"row {row}", row, row * row])
    book.save(str(path))
    return path


def make_encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(path.with_suffix(".plain.pdf"), pages=1)
    writer = PdfWriter()
    for page in PdfReader(str(plain)).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    with open(path, "wb") as f:
        writer.write(f)
    return path
