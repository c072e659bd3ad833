// Stripe's Payment Element on the payment page (payments.provider = stripe, payment_intents
// mode). Loaded only there, after Stripe's own script; the keys come from data attributes, so
// the page holds no inline script.
(function () {
  "use strict";
  var form = document.getElementById("stripe-form");
  if (!form || !window.Stripe) return;
  var stripe = window.Stripe(form.dataset.key);
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  elements.create("payment").mount("#payment-element");
  var error = document.getElementById("stripe-error");
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var button = document.getElementById("pay");
    button.disabled = true;
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
      .then(function (r) {
        if (r.error) {
          error.textContent = r.error.message || "The payment did not go through.";
          button.disabled = false;
        }
      });
  });
})();
