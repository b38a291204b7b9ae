// The invitations page: copy the new link, and show the points only for roles bound to points.
for (const button of document.querySelectorAll("[data-copy-target]")) {
  button.addEventListener("click", async () => {
    const input = document.getElementById(button.dataset.copyTarget);
    try {
      await navigator.clipboard.writeText(input.value);
      button.textContent = "已复制";
    } catch (error) {
      input.focus();
      input.select();
      button.textContent = "已选中，请长按或按 Ctrl+C 复制";
    }
  });
}

const role = document.querySelector("select[data-bound-roles]");
const points = document.querySelector("[data-invite-points]");
if (role && points) {
  const bound = role.dataset.boundRoles.split(",");
  const show = () => { points.hidden = !bound.includes(role.value); };
  role.addEventListener("change", show);
  show();
}
