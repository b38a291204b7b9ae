// The stocktake results page: a print button, and a check before closing.
const print = document.getElementById("print");
if (print) print.addEventListener("click", () => window.print());
const form = document.getElementById("close-form");
if (form) {
  form.addEventListener("submit", (e) => {
    if (!window.confirm("确定结束这次盘点吗？没找到的书会登记为缺失。")) e.preventDefault();
  });
}
