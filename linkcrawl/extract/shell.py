"""Whether a page's HTML as served looks like the shell of a client-rendered application,
whose links exist only once its scripts run (``linkcrawl crawl --render auto``).

Each signal is a cheap look at the lxml tree the link extractor already parsed; none of
them runs a script. They are documented in docs/rendering.md:

- ``empty-root``: an application's mount point with nothing in it, an element whose id is
  one the common frameworks mount on (``root``, ``app``, ``__next``, ``__nuxt``,
  ``___gatsby``, ...) or an ``<app-root>`` / ``ng-app`` element, holding no element and no
  text;
- ``framework``: a client-side framework's own marker (``script#__NEXT_DATA__``,
  ``script#__NUXT_DATA__``, ``window.__NUXT__``, ``ng-version``, ``data-reactroot``,
  ``data-server-rendered``, ``data-v-app``);
- ``noscript``: a ``<noscript>`` whose text mentions JavaScript ("You need to enable
  JavaScript to run this app.");
- ``few-links``: fewer than ``few_links`` anchor links on a page that has scripts.
"""

from __future__ import annotations

from typing import Any

from linkcrawl.extract.links import PageLinks

__all__ = ["APP_ROOT_IDS", "FEW_LINKS", "SIGNALS", "shell_signals"]

SIGNALS = ("empty-root", "framework", "noscript", "few-links")
# The ids client-side frameworks mount on: create-react-app and Vite (root, app), Next.js,
# Nuxt, Gatsby, Svelte, Quasar; and Angular's element.
APP_ROOT_IDS = ("root", "app", "__next", "__nuxt", "___gatsby", "svelte", "q-app", "app-root")
FEW_LINKS = 3

_ROOTS = " or ".join(f"@id='{i}'" for i in APP_ROOT_IDS)
_APP_ROOT_XPATH = f"//body//*[{_ROOTS}] | //app-root | //*[@ng-app]"
_FRAMEWORK_XPATH = (
    "//script[@id='__NEXT_DATA__' or @id='__NUXT_DATA__']"
    " | //*[@ng-version or @data-reactroot or @data-server-rendered or @data-v-app]"
    " | //script[contains(., 'window.__NUXT__')]"
)


def shell_signals(root: Any, links: PageLinks, few_links: int = FEW_LINKS) -> tuple[str, ...]:
    """The signals (of :data:`SIGNALS`, in that order) that the document ``root`` (an
    lxml element, ``response.selector.root``), whose links are ``links``, is a
    client-rendered shell; empty when it looks like a page of its own."""
    if root is None or not isinstance(getattr(root, "tag", None), str):
        return ()
    found: list[str] = []
    for element in root.xpath(_APP_ROOT_XPATH):
        if len(element) == 0 and not (element.text or "").strip():
            found.append("empty-root")
            break
    if root.xpath(_FRAMEWORK_XPATH):
        found.append("framework")
    for element in root.iter("noscript"):
        if "javascript" in element.text_content().lower():
            found.append("noscript")
            break
    anchors = sum(1 for kind in links.kind if kind in ("anchor", "area"))
    if anchors < few_links and next(root.iter("script"), None) is not None:
        found.append("few-links")
    return tuple(found)
