// Accessibility fixes the book's CSS cannot make, applied once a page has
// loaded (see the browser check in xtask/browser-check).
(function () {
    // mdBook 0.5.4's sidebar toggle is a <label> carrying aria-label and
    // aria-controls, which a label may not have: it acts as a button, so say
    // so, and let the keyboard reach and press it.
    var toggle = document.getElementById("mdbook-sidebar-toggle");
    if (toggle) {
        toggle.setAttribute("role", "button");
        toggle.setAttribute("tabindex", "0");
        toggle.addEventListener("keydown", function (event) {
            if (event.key === "Enter" || event.key === " ") {
                event.preventDefault();
                toggle.click();
            }
        });
    }
    // A code block wider than the page scrolls sideways; a keyboard user can
    // scroll it only if it can take the focus.
    document.querySelectorAll("pre > code").forEach(function (code) {
        if (code.scrollWidth > code.clientWidth) {
            code.setAttribute("tabindex", "0");
        }
    });
})();
