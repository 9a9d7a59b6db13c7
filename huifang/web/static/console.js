// huifang console: keyboard work through the queue, and a two-channel recording player.
(function () {
  "use strict";
  function typing(e) { var t = e.target.tagName; return t === "INPUT" || t === "SELECT" || t === "TEXTAREA"; }
  // queue: j/k move, Enter opens
  var rows = Array.prototype.slice.call(document.querySelectorAll("table[data-keys] tbody tr[data-href]"));
  var at = rows.length ? 0 : -1;
  function mark() { rows.forEach(function (r, i) { r.classList.toggle("sel", i === at); }); if (at >= 0) rows[at].scrollIntoView({ block: "nearest" }); }
  if (rows.length) mark();
  rows.forEach(function (r, i) { r.addEventListener("click", function (e) { if (e.target.tagName !== "A") { at = i; mark(); } }); });
  // call page: n/p next and previous item, space plays the first recording
  var steps = document.querySelector("nav.steps");
  var audio = document.querySelector("audio");
  document.addEventListener("keydown", function (e) {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (rows.length && (e.key === "j" || e.key === "k")) { at = Math.max(0, Math.min(rows.length - 1, at + (e.key === "j" ? 1 : -1))); mark(); e.preventDefault(); }
    else if (rows.length && e.key === "Enter" && at >= 0) { window.location = rows[at].dataset.href; }
    else if (steps && e.key === "n" && steps.dataset.next) { window.location = steps.dataset.next; }
    else if (steps && e.key === "p" && steps.dataset.prev) { window.location = steps.dataset.prev; }
    else if (audio && e.key === " ") { if (audio.paused) { audio.play(); } else { audio.pause(); } e.preventDefault(); }
  });
  // queue: the box in the header selects every row of the page for a bulk action; x the row at hand
  var all = document.querySelector("input[data-select-all]");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=ids]").forEach(function (c) { c.checked = all.checked; });
    });
  }
  document.addEventListener("keydown", function (e) {
    if (typing(e) || e.key !== "x" || at < 0 || !rows.length) return;
    var box = rows[at].querySelector("input[name=ids]");
    if (box) { box.checked = !box.checked; }
  });
  // error pages: 返回 goes back where the user came from (no inline script: the CSP)
  document.querySelectorAll("a[data-back]").forEach(function (a) {
    a.addEventListener("click", function (e) { if (window.history.length > 1) { e.preventDefault(); window.history.back(); } });
  });
  // player: both channels, or the citizen (left) or the system (right) alone
  document.querySelectorAll("[data-player]").forEach(function (box) {
    var el = box.querySelector("audio"), graph = null;
    function route(which) {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      if (!graph) {
        var ctx = new Ctx(), src = ctx.createMediaElementSource(el), split = ctx.createChannelSplitter(2), merge = ctx.createChannelMerger(2);
        var left = ctx.createGain(), right = ctx.createGain();
        src.connect(split); split.connect(left, 0); split.connect(right, 1);
        left.connect(merge, 0, 0); left.connect(merge, 0, 1); right.connect(merge, 0, 0); right.connect(merge, 0, 1);
        merge.connect(ctx.destination); graph = { ctx: ctx, left: left, right: right };
      }
      graph.left.gain.value = which === "right" ? 0 : 1;
      graph.right.gain.value = which === "left" ? 0 : 1;
    }
    box.querySelectorAll("[data-channel]").forEach(function (b) {
      b.addEventListener("click", function () {
        box.querySelectorAll("[data-channel]").forEach(function (o) { o.classList.toggle("on", o === b); });
        route(b.dataset.channel);
      });
    });
    // playback speed: 0.75x to follow a fast talker, 1.5x to get through a long call
    box.querySelectorAll("[data-rate]").forEach(function (b) {
      b.addEventListener("click", function () {
        box.querySelectorAll("[data-rate]").forEach(function (o) { o.classList.toggle("on", o === b); });
        el.playbackRate = parseFloat(b.dataset.rate);
        el.preservesPitch = true;
      });
    });
    // 跳到原因 in the player, ▶ beside each heard answer in the call's turn table
    (box.closest("article, section") || box).querySelectorAll("[data-seek]").forEach(function (b) {
      b.addEventListener("click", function () {
        el.currentTime = parseFloat(b.dataset.seek);
        var playing = el.play();  // a pause before it starts rejects it: that is no error
        if (playing && playing.catch) playing.catch(function () {});
      });
    });
  });
})();
