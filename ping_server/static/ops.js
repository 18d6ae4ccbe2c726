// Refresh /ops in place every few seconds (keeps the scroll position; pauses in a hidden tab).
(function () {
  var live = document.getElementById("ops-live");
  if (!live || !window.fetch || !window.DOMParser) return;
  var seconds = parseInt(live.getAttribute("data-refresh"), 10) || 10;

  function refresh() {
    if (document.visibilityState === "hidden") return;
    fetch(window.location.pathname, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (response.redirected || !response.ok) { window.location.reload(); return null; }
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("ops-live");
        if (fresh) live.innerHTML = fresh.innerHTML;
      })
      .catch(function () { /* server away: keep the last picture, try again next tick */ });
  }

  window.setInterval(refresh, seconds * 1000);
})();
