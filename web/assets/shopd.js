// shopd storefront enhancements. Every page works without this file: it only makes the variant
// picker update price, availability and image in place, submits sort menus on change, and
// fills search suggestions. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function byId(id) { return document.getElementById(id); }

  function pickVariant(select) {
    var o = select.options[select.selectedIndex];
    if (!o) return;
    var price = byId("price"), avail = byId("availability"), img = byId("product-image");
    if (price) {
      price.textContent = o.dataset.price + (o.dataset.compare ? " " : "");
      if (o.dataset.compare) {
        var s = document.createElement("s");
        s.setAttribute("aria-label", "was");
        s.textContent = o.dataset.compare;
        price.appendChild(s);
      }
    }
    var ok = o.dataset.available === "true";
    if (avail) {
      avail.textContent = ok ? "In stock" : "Sold out";
      avail.className = ok ? "ok" : "bad";
    }
    var add = byId("add-to-cart");
    if (add) add.disabled = !ok;
    if (img && o.dataset.image) img.src = o.dataset.image;
    var url = new URL(window.location.href);
    url.searchParams.set("variant", o.value);
    window.history.replaceState(null, "", url);
  }

  document.querySelectorAll("[data-variant-picker]").forEach(function (s) {
    s.addEventListener("change", function () { pickVariant(s); });
  });

  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });

  var input = document.querySelector("input[data-suggest]");
  var list = byId("suggestions");
  if (input && list && window.fetch) {
    var timer = null, last = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        if (q.length < 2 || q === last) return;
        last = q;
        fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q), { credentials: "omit" })
          .then(function (r) { return r.ok ? r.json() : { data: [] }; })
          .then(function (body) {
            list.textContent = "";
            (body.data || []).forEach(function (t) {
              var o = document.createElement("option");
              o.value = t;
              list.appendChild(o);
            });
          })
          .catch(function () {});
      }, 150);
    });
  }
})();
