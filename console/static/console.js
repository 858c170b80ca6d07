// The credits console's only script: offer the browser's own time zone in
// the time zone form when the page shows UTC and none was chosen.
(function () {
  var input = document.querySelector("input[data-browser-tz]");
  if (!input || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && input.value === "UTC" && zone !== "UTC") input.placeholder = zone;
  input.setAttribute("list", "tz-options");
  var list = document.createElement("datalist");
  list.id = "tz-options";
  [zone, "UTC"].forEach(function (z) { if (z) { var o = document.createElement("option"); o.value = z; list.appendChild(o); } });
  input.after(list);
})();
