import { call } from './api.js';
import { $, el, show, showError, clear } from './dom.js';

let last = null;

export function init() {
  $('tests-run').addEventListener('click', () => run().catch((e) => showError('tests-error', e)));
  $('tests-show-passed').addEventListener('change', () => last && render(last));
}

export function reset() {
  last = null;
  show('tests-result', false);
  showError('tests-error', null);
  clear($('tests-cases').tBodies[0]);
  clear($('tests-problems').tBodies[0]);
}

async function run() {
  showError('tests-error', null);
  show('tests-result', false);
  const { data } = await call('GET', '/admin/policies/tests');
  last = data;
  render(data);
}

// render lists the failing cases first, each with what differed from its
// expectations, then (when asked) the passing ones.
function render(data) {
  const summary = $('tests-summary');
  summary.textContent = `${data.passed} passed, ${data.failed} failed`;
  summary.className = data.failed > 0 ? 'error' : 'ok';
  $('tests-files').textContent = 'Case files: ' + data.files.join(', ');

  const pb = $('tests-problems').tBodies[0];
  clear(pb);
  for (const p of data.problems) {
    pb.append(el('tr', { class: 'bad' },
      el('td', { class: 'code', text: `${p.file}:${p.line}:${p.column}` }),
      el('td', { text: p.case || '' }),
      el('td', { text: p.message })));
  }
  show('tests-problems-block', data.problems.length > 0);

  const tb = $('tests-cases').tBodies[0];
  clear(tb);
  const showPassed = $('tests-show-passed').checked;
  const cases = [...data.cases.filter((c) => !c.passed), ...(showPassed ? data.cases.filter((c) => c.passed) : [])];
  for (const c of cases) {
    const fails = el('ul', { class: 'failures' });
    for (const f of c.failures) fails.append(el('li', { text: f }));
    tb.append(el('tr', { class: c.passed ? '' : 'bad', data: { name: c.name } },
      el('td', { class: c.passed ? 'outcome-allowed' : 'outcome-denied', text: c.passed ? 'ok' : 'FAIL' }),
      el('td', { class: 'code where', text: `${c.file}:${c.line}` }),
      el('td', { text: c.name }),
      el('td', {}, c.passed ? null : fails)));
  }
  if (cases.length === 0) tb.append(el('tr', {}, el('td', { text: 'Every case passed.' })));
  show('tests-result', true);
}
