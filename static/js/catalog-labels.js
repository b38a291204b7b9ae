// Label sheet: the print button (no inline script under the CSP).
(function () {
  "use strict";
  var button = document.getElementById("print-labels");
  if (button) {
    button.addEventListener("click", function () { window.print(); });
  }
})();
