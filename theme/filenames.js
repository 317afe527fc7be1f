// "Filename: listings/.../main.rs" above a listing becomes a link to the
// whole file in the book's repository, and the Introduction's clone command
// shows the repository's address, when the book knows its repository
// (the publish workflow sets output.html.git-repository-url; mdBook then
// shows a link to it at the top of every page, which this reads). A listing
// shows only the lines the text discusses; the link leads to all of them.
(function () {
    var repository = document.querySelector('a[aria-label="Git repository"]');
    if (!repository) {
        return;
    }
    var base = repository.getAttribute("href").replace(/\/+$/, "");
    // The Introduction's `git clone <repository>` and `cd <folder>`.
    var folder = base.split("/").pop();
    document.querySelectorAll("code").forEach(function (code) {
        if (code.textContent.indexOf("git clone <repository>") !== -1) {
            code.textContent = code.textContent
                .replace("<repository>", base)
                .replace("<folder>", folder);
        }
    });
    document.querySelectorAll(".filename").forEach(function (label) {
        var match = /^Filename: (\S+)$/.exec(label.textContent.trim());
        if (!match) {
            return;
        }
        var link = document.createElement("a");
        link.href = base + "/blob/main/" + match[1];
        link.textContent = match[1];
        link.title = "The whole file, in the book's repository";
        label.textContent = "Filename: ";
        label.appendChild(link);
    });
})();
