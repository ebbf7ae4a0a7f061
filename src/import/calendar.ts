// systemd's OnCalendar= (systemd.time(7)) → a cron expression for `schedule:`. Calendar
// events that cron cannot say — a year, "the last day" (~), a time zone, both a weekday
// and a day of the month (systemd wants both, cron either) — come back with the reason.

export type Calendar = { readonly ok: true; readonly cron: string } | { readonly ok: false; readonly why: string };

const SHORTHANDS: Record<string, string> = {
  minutely: '*-*-* *:*:00', hourly: '*-*-* *:00:00', daily: '*-*-* 00:00:00', monthly: '*-*-01 00:00:00',
  weekly: 'Mon *-*-* 00:00:00', yearly: '*-01-01 00:00:00', annually: '*-01-01 00:00:00',
  quarterly: '*-01,04,07,10-01 00:00:00', semiannually: '*-01,07-01 00:00:00',
};

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export function calendarToCron(expression: string): Calendar {
  const text = expression.trim();
  const normalized = SHORTHANDS[text.toLowerCase()] ?? text;
  const tokens = normalized.split(/\s+/).filter(Boolean);
  let weekdays = '*';
  let date = '*-*-*';
  let time = '00:00:00';
  let sawTime = false;
  for (const [index, token] of tokens.entries()) {
    if (index === 0 && /^[A-Za-z]/.test(token) && !/^(UTC|GMT)$/i.test(token) && !token.includes('/')) {
      const days = weekdayField(token);
      if (days === null) return { ok: false, why: `unknown weekday in "${token}"` };
      weekdays = days;
    } else if (token.includes(':')) {
      time = token;
      sawTime = true;
    } else if (token.includes('-') || token === '*') {
      date = token;
    } else if (/^[A-Za-z]/.test(token)) {
      return { ok: false, why: `a time zone (${token}): tend schedules in its own time zone (TZ)` };
    } else return { ok: false, why: `cannot read "${token}"` };
  }
  if (!sawTime && tokens.length === 0) return { ok: false, why: 'empty' };
  if (date.includes('~')) return { ok: false, why: 'a day counted from the end of the month (~) has no cron equivalent' };
  const dateParts = date.split('-');
  const [year, month, day] = dateParts.length === 3 ? dateParts : dateParts.length === 2 ? ['*', ...dateParts] : [null, null, null];
  if (year === null || month === undefined || day === undefined) return { ok: false, why: `cannot read the date "${date}"` };
  if (year !== '*') return { ok: false, why: `a year (${year}) has no cron equivalent` };
  const timeParts = time.split(':');
  if (timeParts.length < 2 || timeParts.length > 3) return { ok: false, why: `cannot read the time "${time}"` };
  const [hour, minute, second = '00'] = timeParts as [string, string, string?];
  const fields = [
    field(minute, 0, 59), field(hour, 0, 23), field(day!, 1, 31), field(month!, 1, 12),
  ];
  const sec = field(second.replace(/\.\d+$/, ''), 0, 59);
  for (const part of [...fields, sec]) if (part === null) return { ok: false, why: `cannot read "${expression}"` };
  if (weekdays !== '*' && fields[2] !== '*') {
    return { ok: false, why: 'both a weekday and a day of the month: systemd needs both to match, cron either' };
  }
  const cron = [fields[0], fields[1], fields[2], fields[3], weekdays].join(' ');
  return { ok: true, cron: sec === '0' ? cron : `${sec} ${cron}` };
}

/** One component: *, N, a,b, a..b, a/step, *\/step → cron syntax; null when unreadable. */
function field(text: string, min: number, max: number): string | null {
  const parts = text.split(',').map((part) => {
    const [base, step] = part.split('/') as [string, string?];
    if (step !== undefined && !/^\d+$/.test(step)) return null;
    let range: string;
    if (base === '*') range = '*';
    else if (/^\d+$/.test(base)) range = step !== undefined ? `${Number(base)}-${max}` : String(Number(base));
    else if (/^\d+\.\.\d+$/.test(base)) range = base.split('..').map(Number).join('-');
    else return null;
    for (const n of range.split('-').filter((v) => v !== '*').map(Number)) if (n < min || n > max) return null;
    return step !== undefined ? `${range}/${Number(step)}` : range;
  });
  return parts.includes(null) ? null : parts.join(',');
}

function weekdayField(text: string): string | null {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const [from, to] = part.split('..').map((day) => DAYS.indexOf(day.slice(0, 3).toLowerCase())) as [number, number?];
    if (from === -1 || to === -1) return null;
    if (to === undefined) out.push(from);
    else for (let day = from; ; day = (day + 1) % 7) {
      out.push(day);
      if (day === to) break;
    }
  }
  const unique = [...new Set(out)].sort((a, b) => a - b);
  if (unique.length === 7) return '*';
  // Consecutive days as a range: 1,2,3,4,5 → 1-5.
  const runs: string[] = [];
  for (let i = 0; i < unique.length; i++) {
    let j = i;
    while (j + 1 < unique.length && unique[j + 1] === unique[j]! + 1) j++;
    runs.push(j - i >= 2 ? `${unique[i]}-${unique[j]}` : unique.slice(i, j + 1).join(','));
    i = j;
  }
  return runs.join(',');
}
