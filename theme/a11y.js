// Accessibility fixes the book's CSS cannot make, applied once a page has
// loaded (see the browser check in xtask/browser-check).
(function () {
    // mdBook 0.5.4's sidebar toggle is a <label> for a hidden checkbox,
    // carrying aria-label, aria-controls and aria-expanded, which a label may
    // not have (nor may it take role="button"). Put a real <button> in its
    // place: the keyboard reaches and presses it, and screen readers announce
    // it. The label stays, hidden, because mdBook's script listens on it and
    // keeps its aria-expanded up to date; the button passes clicks to it and
    // mirrors that attribute.
    var label = document.getElementById("mdbook-sidebar-toggle");
    if (label) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = label.className;
        ["title", "aria-label", "aria-controls", "aria-expanded"].forEach(
            function (name) {
                if (label.hasAttribute(name)) {
                    button.setAttribute(name, label.getAttribute(name));
                }
                label.removeAttribute(name);
            }
        );
        while (label.firstChild) {
            button.appendChild(label.firstChild);
        }
        new MutationObserver(function () {
            button.setAttribute(
                "aria-expanded",
                label.getAttribute("aria-expanded")
            );
        }).observe(label, { attributeFilter: ["aria-expanded"] });
        button.addEventListener("click", function () {
            label.click();
        });
        label.hidden = true;
        label.parentNode.insertBefore(button, label);
    }
    // A code block or a table wider than the page scrolls sideways (mdBook
    // wraps each table in a .table-wrapper that scrolls); a keyboard user can
    // scroll it only if it can take the focus.
    document
        .querySelectorAll("pre > code, .table-wrapper")
        .forEach(function (box) {
            if (box.scrollWidth > box.clientWidth) {
                box.setAttribute("tabindex", "0");
            }
        });
})();
