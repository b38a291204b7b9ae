// Reading a scanned or typed code on the phone, the same way the server does
// (library_app/domain/codes.py): the bare code or the label URL …/s/<code>, any case, stray
// spaces; "B" = a book (copy), "C" = a library card; the last digit is a Luhn check digit, so a
// mistyped code is refused here, even offline, and never matched to another item.
//
//   readCode(raw) -> {kind: "copy"|"card", code} | {error, message}

const URL_TAIL = /\/s\/([^/?#\s]+)\/?(?:[?#].*)?$/i;
const CODE = /^([BC])(\d{2,18})$/;

export function luhnValid(digits) {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    let d = digits.charCodeAt(i) - 48;
    if (double) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export function readCode(raw) {
  let text = String(raw || "").trim();
  const url = text.match(URL_TAIL);
  if (url) text = url[1];
  text = text.replace(/[\s-]/g, "").toUpperCase();
  const m = text.match(CODE);
  if (!m) {
    return { error: "invalid_code", message: "无法识别这个编码，请重新扫描或手动输入标签下方的编码。" };
  }
  if (!luhnValid(m[2])) {
    return { error: "bad_check_digit", message: "编码校验位不对，可能输错了一位，请核对标签下方的编码后重新输入。" };
  }
  return { kind: m[1] === "B" ? "copy" : "card", code: text };
}
