// itpwatch web app: a little behaviour on top of server-rendered pages. No library, no network requests
// other than reloading the page itself. Everything works without it; it only adds convenience.
"use strict";

(function () {
  // Worklist: "select all", and reload every minute while nobody is selecting or typing.
  const selectAll = document.getElementById("select-all");
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      document.querySelectorAll('input[name="alert"]').forEach(function (box) { box.checked = selectAll.checked; });
    });
  }
  const refresh = document.querySelector("[data-refresh]");
  if (refresh) {
    const seconds = parseInt(refresh.getAttribute("data-refresh"), 10) || 60;
    setInterval(function () {
      const busy = document.querySelector('input[name="alert"]:checked') ||
        (document.getElementById("ack-note") && document.getElementById("ack-note").value) ||
        (document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].indexOf(document.activeElement.tagName) >= 0);
      if (!busy && document.visibilityState === "visible") { window.location.reload(); }
    }, seconds * 1000);
  }

  // Patient chart: hover or keyboard shows value, time (site time with offset) and source of each point.
  document.querySelectorAll("[data-chart]").forEach(function (box) {
    const svg = box.querySelector("svg");
    const tip = box.querySelector(".tooltip");
    const points = Array.prototype.slice.call(svg.querySelectorAll(".pt"));
    let current = -1;

    function show(el) {
      const text = el.getAttribute("data-tip");
      if (!text) { return; }
      tip.textContent = text;
      tip.hidden = false;
      const r = el.getBoundingClientRect();
      const b = box.getBoundingClientRect();
      let left = r.left - b.left + r.width / 2 + 12;
      if (left + 320 > b.width) { left = Math.max(4, r.left - b.left - 330); }
      tip.style.left = left + "px";
      tip.style.top = Math.max(4, r.top - b.top - 10) + "px";
    }
    function hide() { tip.hidden = true; }
    function activate(i) {
      if (!points.length) { return; }
      current = Math.max(0, Math.min(points.length - 1, i));
      points.forEach(function (p) { p.classList.remove("active"); });
      points[current].classList.add("active");
      show(points[current]);
    }

    svg.addEventListener("mouseover", function (ev) {
      const el = ev.target.closest("[data-tip]");
      if (el) { show(el); }
    });
    svg.addEventListener("mouseleave", hide);
    svg.addEventListener("focus", function () { activate(current < 0 ? points.length - 1 : current); });
    svg.addEventListener("blur", function () { hide(); points.forEach(function (p) { p.classList.remove("active"); }); });
    svg.addEventListener("keydown", function (ev) {
      const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowUp: 1, ArrowDown: -1 };
      if (ev.key in moves) { activate(current + moves[ev.key]); ev.preventDefault(); }
      else if (ev.key === "Home") { activate(0); ev.preventDefault(); }
      else if (ev.key === "End") { activate(points.length - 1); ev.preventDefault(); }
      else if (ev.key === "Escape") { hide(); }
    });
  });
})();
