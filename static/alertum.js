/* Alertum pages: live status, catch-up on (re)connect, ordered swaps, timers, small UI bits.
   htmx and its ws extension come from django-htmx's static files (no CDN). */
(function () {
  "use strict";

  var HANDLED_BY_EXTENSION = [1006, 1011, 1012, 1013]; // htmx's ws extension retries these itself
  var retries = 0;

  function headSeq() {
    var head = document.getElementById("timeline-head");
    return head ? parseInt(head.dataset.seq || "0", 10) : 0;
  }

  function setLive(state, text) {
    document.querySelectorAll("[data-live-status]").forEach(function (el) {
      el.dataset.state = state;
      el.textContent = text;
    });
  }

  function flash(message) {
    var box = document.getElementById("flash");
    if (!box) return;
    box.innerHTML = "";
    var p = document.createElement("p");
    p.className = "alert error";
    p.textContent = message;
    box.appendChild(p);
  }

  // On every (re)connect tell the server the newest entry we hold; it sends what we missed.
  document.addEventListener("htmx:wsOpen", function (evt) {
    retries = 0;
    setLive("live", "live");
    if (evt.target.id === "workspace") {
      evt.detail.socketWrapper.send(JSON.stringify({ last_seq: headSeq() }));
    }
    if (evt.target.id === "monitors-live") {
      var rows = document.getElementById("monitor-rows");
      evt.detail.socketWrapper.send(JSON.stringify({ version: rows ? rows.dataset.version || "" : "" }));
    }
  });

  // The monitors overview: the socket only says "changed"; the rows re-fetch themselves
  // (hx-trigger "monitors-changed from:body"), debounced: 500 ms after the last message,
  // and at most 3 s after the first, so a steady stream of changes still shows.
  var MONITORS_QUIET_MS = 500, MONITORS_MAX_WAIT_MS = 3000;
  var monitorsTimer = null, monitorsFirst = 0;
  function refreshMonitorsSoon() {
    var now = Date.now();
    if (monitorsTimer === null) monitorsFirst = now;
    clearTimeout(monitorsTimer);
    var wait = Math.max(0, Math.min(MONITORS_QUIET_MS, monitorsFirst + MONITORS_MAX_WAIT_MS - now));
    monitorsTimer = setTimeout(function () {
      monitorsTimer = null;
      htmx.trigger(document.body, "monitors-changed");
    }, wait);
  }

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    if (evt.target.id !== "monitors-live") return;
    var message = null;
    try { message = JSON.parse(evt.detail.message); } catch (e) { return; }
    if (message && message.type === "monitors.changed") {
      evt.preventDefault(); // not HTML to swap
      refreshMonitorsSoon();
    }
  });

  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail.event.code;
    if (code === 4403) { setLive("off", "signed out — reload"); return; }
    if (code === 4404) { setLive("off", "not available"); return; }
    setLive("down", "reconnecting…");
    if (HANDLED_BY_EXTENSION.indexOf(code) < 0) {
      // e.g. 1001 when the server restarts: retry with capped, jittered backoff.
      var delay = Math.random() * 1000 * Math.pow(2, Math.min(retries, 5));
      retries += 1;
      setTimeout(function () {
        if (document.body.contains(evt.target)) evt.detail.socketWrapper.reconnect();
      }, delay);
    }
  });

  // Keep pushes idempotent and ordered: never append an entry twice, never replace a
  // panel with an older rendering (an HTTP answer can arrive after a newer push).
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    var fragment = evt.detail.fragment;
    if (target.id === "timeline") {
      Array.prototype.slice.call(fragment.children || []).forEach(function (child) {
        if (child.id && document.getElementById(child.id)) {
          child.remove();
        } else {
          child.classList.add("fresh");
        }
      });
      return;
    }
    var incoming = fragment.firstElementChild;
    if (target.dataset && target.dataset.seq && incoming && incoming.dataset && incoming.dataset.seq) {
      if (parseInt(incoming.dataset.seq, 10) < parseInt(target.dataset.seq, 10)) {
        evt.detail.shouldSwap = false;
      }
    }
  });

  // Our 4xx answers are expected (a message for the flash). In DEBUG, django-htmx's
  // helper would replace the whole page with them; stop the event reaching it.
  window.addEventListener("htmx:beforeOnLoad", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-Alertum-Error")) evt.stopPropagation();
  }, true);

  document.addEventListener("htmx:afterRequest", function (evt) {
    var elt = evt.detail.elt;
    if (!elt || !elt.matches) return;
    if (evt.detail.successful && elt.matches("form[data-reset]")) elt.reset();
    // A refused tick puts the box back the way it was.
    if (!evt.detail.successful && elt.matches("input[type=checkbox]")) elt.checked = !elt.checked;
  });

  document.addEventListener("htmx:sendError", function () {
    flash("Could not reach Alertum. Check your connection and try again.");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    if (evt.detail.xhr && evt.detail.xhr.status >= 500) flash("Something went wrong on the server; nothing was changed.");
  });

  // Running timers (time since start) tick in the browser; the server renders the same text.
  function duration(ms) {
    var s = Math.max(Math.floor(ms / 1000), 0);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + (m < 10 ? "0" : "") + m + "m";
    if (m) return m + "m";
    return s + "s";
  }
  setInterval(function () {
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var start = Date.parse(el.dataset.since);
      if (!isNaN(start)) el.textContent = duration(Date.now() - start);
    });
  }, 5000);

  document.addEventListener("click", function (evt) {
    var dismiss = evt.target.closest("[data-dismiss]");
    if (dismiss) { dismiss.closest(".alert").remove(); return; }
    var tab = evt.target.closest("[data-tab]");
    if (tab) {
      tab.parentElement.querySelectorAll("[data-tab]").forEach(function (other) {
        var selected = other === tab;
        other.setAttribute("aria-selected", selected ? "true" : "false");
        var panel = document.getElementById(other.dataset.tab);
        if (panel) panel.hidden = !selected;
      });
    }
  });

  document.addEventListener("focusin", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-select-on-focus]")) evt.target.select();
  });
})();
