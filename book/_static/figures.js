// Each figure opens at full size on click (a plain link to its PNG): a wide strip squeezed into
// the page column is read at its own resolution. Players (matplotlib's animations) are left alone.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("figure img, .cell_output img").forEach((img) => {
    if (img.closest("a") || img.closest(".animation")) return;
    const link = document.createElement("a");
    link.href = img.src;
    link.target = "_blank";
    link.title = "open the figure at full size";
    link.className = "rstor-figure-link";
    img.replaceWith(link);
    link.appendChild(img);
  });
});
