// Keeps the "Nu" page (and a "Ring op" in progress on Beskeder) current without a reload: fetches each
// live region's content every few seconds and puts it in place. The pages work without this script;
// they only are not live then.
(function () {
  "use strict";
  function keepCurrent(region) {
    var seconds = Number(region.getAttribute("data-seconds")) || 5;
    function refresh() {
      fetch(region.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.status === 401) { window.location.assign("/ui/log-ind"); return null; }
          return response.ok ? response.text() : null;
        })
        .then(function (html) { if (html !== null && html !== region.innerHTML) region.innerHTML = html; })
        .catch(function () { /* the server is away for a moment: the next round tries again */ });
    }
    window.setInterval(refresh, seconds * 1000);
  }
  var regions = document.querySelectorAll("#nu-indhold, .opkald[data-src]");
  for (var i = 0; i < regions.length; i++) keepCurrent(regions[i]);
})();
