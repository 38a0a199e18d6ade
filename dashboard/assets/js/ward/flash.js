// Flashing on the ward screen: one quarter-second timer sets three attributes on <body>, and
// ward.css ("Flashing") styles each half of a period from them.
//
// Not CSS animations: Chromium re-styles an animated border on every frame, sixty times a second,
// even when a steps(1) animation changes it twice. A 24-bed ward page with its alarms took 46 % of a
// core on the project's test machine (16 % with no animation at all; docs/benchmarks.md), and a ward
// screen's small always-on computer has less to spare. Four style changes a second show the same
// flashing (IEC 60601-1-8: high priority 1.4–2.8 Hz, here 2 Hz; medium 0.4–0.8 Hz, here 0.5 Hz):
// 25 % for that page.

/** Quarter-seconds in a period of each rate: attribute `data-flash-<rate>` is "a" in its first
 *  half and "b" in its second. */
const QUARTERS = { "2hz": 2, "1hz": 4, "05hz": 8 };

export function startFlashing(body = document.body) {
  let quarter = 0;
  const show = () => {
    for (const [rate, n] of Object.entries(QUARTERS)) {
      const half = quarter % n < n / 2 ? "a" : "b";
      const name = `data-flash-${rate}`;
      if (body.getAttribute(name) !== half) body.setAttribute(name, half);
    }
    quarter = (quarter + 1) % 8;
  };
  show();
  setInterval(show, 250);
}
