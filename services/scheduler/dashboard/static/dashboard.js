// Small enhancements over pages that work without this script: local times, the save button that waits for a
// change, a question before leaving unsaved changes or doing something that cannot be undone, and the CSRF token
// on every htmx request.
(function () {
  "use strict";
  var dirty = null;

  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "long" });
      }
    });
  }

  // A form's save button waits for a change. The change is noted on the form by a listener on the document,
  // so a keystroke that lands before the form is wired up still counts; a form drawn again with errors holds
  // what the admin typed and was not saved, so its button starts enabled.
  function watch(root) {
    root.querySelectorAll("form[data-watch]").forEach(function (form) {
      var save = form.querySelector("[data-save]");
      if (!save || form.dataset.watching) { return; }
      form.dataset.watching = "1";
      if (!form.dataset.changed && !form.querySelector("[aria-invalid=true], .error, .field-error")) { save.disabled = true; }
    });
  }

  function changed(event) {
    var form = event.target.closest && event.target.closest("form[data-watch]");
    if (!form || event.target.closest("[data-nowatch]")) { return; }
    form.dataset.changed = "1";
    var save = form.querySelector("[data-save]");
    if (save) { save.disabled = false; }
    dirty = form;
  }
  document.addEventListener("input", changed, true);
  document.addEventListener("change", changed, true);
  document.addEventListener("submit", function (event) { if (event.target === dirty) { dirty = null; } }, true);

  function chips(root) {
    root.querySelectorAll("[data-pick]").forEach(function (box) {
      box.addEventListener("change", function () {
        var chipsList = document.getElementById("chips");
        var item = box.closest("li");
        if (box.checked && chipsList && item) {
          item.classList.add("chip");
          chipsList.appendChild(item);
          box.removeAttribute("data-pick");
        }
      });
    });
  }

  document.addEventListener("click", function (event) {
    var asker = event.target.closest("[data-confirm]");
    if (asker && !window.confirm(asker.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    var box = event.target.closest("input[type=checkbox][data-confirm-on]");
    if (box && box.checked && !window.confirm(box.getAttribute("data-confirm-on"))) { box.checked = false; }
  }, true);

  window.addEventListener("beforeunload", function (event) {
    if (dirty && document.body.contains(dirty)) { event.preventDefault(); event.returnValue = ""; }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form");
    if (dirty && event.detail.boosted && form !== dirty && document.body.contains(dirty)) {
      if (!window.confirm("You have unsaved changes. Leave this page without saving them?")) { event.preventDefault(); return; }
      dirty = null;
    }
  });

  // The custom mappings are drawn again by each check while the admin types: an answer to a check sent
  // before the latest keystroke is dropped (the check of that keystroke follows), so it never takes back
  // what was typed.
  var edits = 0;
  function edited(event) { if (event.target.closest("#mappings")) { edits += 1; } }
  document.addEventListener("input", edited, true);
  document.addEventListener("change", edited, true);
  // Each request keeps the count it was sent at: checks overlap, and one answered late must be judged by
  // its own count, not by the latest request's.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.id === "mappings-check") { event.detail.xhr.cardsyncSentAt = edits; }
  });
  // (A swap's event names its target, #mappings, not the fieldset that sent it: the request is what knows.)
  document.addEventListener("htmx:beforeSwap", function (event) {
    var sentAt = event.detail.xhr.cardsyncSentAt;
    if (sentAt !== undefined && sentAt !== edits) { event.detail.shouldSwap = false; }
  });

  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector("input[name=csrf_token]");
    if (token) { event.detail.headers["X-CSRF-Token"] = token.value; }
  });

  function start(root) { localTimes(root); watch(root); chips(root); }
  if (window.htmx) { window.htmx.onLoad(start); } else { document.addEventListener("DOMContentLoaded", function () { start(document); }); }
})();
