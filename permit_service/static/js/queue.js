// The review queue's news: every 30 seconds, ask how many applications arrived since the page
// was loaded and say so in the status line (a polite live region) next to the reload link.
// Without this script the reload link alone does the job. No inline script: CSP script-src 'self'.
(function () {
  "use strict";
  var news = document.getElementById("news");
  var text = document.getElementById("news-text");
  if (!news || !text || !window.fetch) {
    return;
  }
  var url = news.getAttribute("data-poll");
  var last = 0;
  function check() {
    if (document.hidden) {
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (body && body.count !== last) {
          last = body.count;
          text.textContent = body.message;
          news.classList.toggle("has-news", body.count > 0);
        }
      })
      .catch(function () {});
  }
  var every = Number(news.getAttribute("data-every") || 30000);
  window.setInterval(check, every);
  document.addEventListener("visibilitychange", check);
})();
