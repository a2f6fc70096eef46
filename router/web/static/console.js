// Keeps the "Nu" page current without a reload: fetches its content every few seconds and puts it
// in place. The page works without this script; it only is not live then.
(function () {
  "use strict";
  var region = document.getElementById("nu-indhold");
  if (!region) return;
  var seconds = Number(region.getAttribute("data-seconds")) || 5;
  function refresh() {
    fetch(region.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/ui/log-ind"); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) { if (html !== null) region.innerHTML = html; })
      .catch(function () { /* the server is away for a moment: the next round tries again */ });
  }
  window.setInterval(refresh, seconds * 1000);
})();
