"""Picture of the rendered chapter 01 for the README: `make screenshot` after `make book`."""

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

page_path = Path("_build/html/book/01_data_generation.html").resolve()
target = Path(sys.argv[1] if len(sys.argv) > 1 else "book/images/book_screenshot.png")
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(page_path.as_uri(), wait_until="load")
    page.wait_for_timeout(1500)  # MathJax typesets after load
    top = page.locator("#a-gallery").bounding_box()["y"]
    page.screenshot(path=str(target), clip={"x": 0, "y": top - 20, "width": 1280, "height": 1000}, full_page=True)
    browser.close()
print(f"wrote {target}")
