// 月报: the monthly report of a region. One script for both of its pages: served at
// /reports (the form; the report from GET /api/v1/reports/monthly) and the standalone file
// the CLI and the PDF print (the report inlined in #report-data, body[data-print]).
'use strict';
TW.pages.report = async () => {
  const inline = document.getElementById('report-data');
  let r;
  if (inline) {
    r = JSON.parse(inline.textContent);
  } else {
    const q = TW.query();
    if (!q.get('month')) return; // the form alone, until 生成月报
    const p = new URLSearchParams();
    if (q.get('region')) p.set('region', q.get('region'));
    p.set('month', q.get('month'));
    r = await TW.api('GET', '/api/v1/reports/monthly?' + p);
    document.getElementById('link-pdf').href = '/api/v1/reports/monthly.pdf?' + p;
    document.getElementById('link-xlsx').href = '/api/v1/reports/monthly.xlsx?' + p;
    document.getElementById('link-html').href = '/api/v1/reports/monthly.html?' + p;
    document.getElementById('report-links').hidden = false;
    document.getElementById('report-hint').hidden = true;
    document.getElementById('report-print').addEventListener('click', () => window.print());
    // Charts drawn for the screen are resized to the paper when the browser prints.
    window.addEventListener('beforeprint', () => TW.charts.forEach(c => c.resize()));
    window.addEventListener('afterprint', () => TW.charts.forEach(c => c.resize()));
  }
  renderReport(r);
};

function renderReport(r) {
  const { el } = TW;
  const $ = id => document.getElementById(id);
  $('report').hidden = false; // before the charts, which take their element's size
  const pct = v => v === null || v === undefined ? null : +(v * 100).toFixed(2);
  const [y, m] = r.month.split('-');
  const where = r.region_name + (r.region ? '（' + r.region + '）' : '');
  $('r-title').textContent = where + ' ' + y + '年' + (+m) + '月 医保药品追溯监管月报';
  document.title = '月报 ' + r.month + ' ' + r.region_name + ' · 码上哨兵';
  $('r-period').textContent = '统计期间 ' + r.from + ' 至 ' + r.to + '；逾期统计截至 ' + TW.time(r.as_of) + '；生成于 ' + TW.time(r.generated_at);
  $('note-unknown').hidden = !(r.region && r.region.endsWith('0000'));

  // 一、总体情况
  const kpi = (label, value, small) => el('div', { class: 'kpi' }, el('div', { class: 'label' }, label),
    el('div', { class: 'value' }, value, small ? el('small', {}, small) : null));
  const c = r.closed, rt = r.rates;
  $('r-kpis').append(
    kpi('追溯码采集率', TW.pct(rt.collection), TW.num(rt.coded) + '/' + TW.num(rt.lines) + ' 行'),
    kpi('接入率', TW.pct(rt.access), rt.uploading + '/' + rt.designated + ' 家'),
    kpi('本月发现线索', TW.num(r.found.clues), '涉及 ' + TW.wan(r.found.amount_fen)),
    kpi('本月办结线索', TW.num(c.clues), '排除 ' + TW.num(c.dismissed)),
    kpi('追回金额', TW.wan(c.recovered_fen)),
    kpi('违约金及罚款', TW.wan(c.penalty_fen + c.fine_fen), '违约金 ' + TW.yuan(c.penalty_fen) + ' 元'),
    kpi('逾期未办线索', TW.num(r.overdue.clues), '涉及 ' + TW.wan(r.overdue.amount_fen)),
    kpi('医保医师记分', TW.num(r.points.points) + ' 分', r.points.practitioners + ' 人 ' + r.points.awards + ' 次'),
  );

  // chart draws an option, or says there is nothing to draw.
  const chart = (id, empty, option) => {
    const box = $(id);
    if (empty) {
      box.replaceWith(el('div', { class: 'r-empty', id }, '本月无数据'));
      return;
    }
    TW.chart(box, option);
  };

  // 二、采集率与接入率
  const days = r.days || [];
  chart('chart-days', !days.some(d => d.lines || d.uploading), {
    tooltip: { trigger: 'axis', valueFormatter: v => v === null ? '—' : v + '%' },
    legend: { data: ['采集率', '接入率'] }, grid: { left: 44, right: 12, top: 30, bottom: 24 },
    xAxis: { type: 'category', data: days.map(d => d.day.slice(8)) },
    yAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
    series: [{ name: '采集率', type: 'line', data: days.map(d => pct(d.collection)) },
      { name: '接入率', type: 'line', data: days.map(d => pct(d.access)) }],
  });
  const levelZh = { province: '省', city: '地市', county: '区县', institution: '机构' };
  const level = levelZh[r.area_level] || '地区';
  $('areas-title').textContent = '按' + level;
  $('areas-col').textContent = level;
  const areas = (r.areas || []).filter(a => a.rates.collection !== null || a.rates.access !== null).slice(0, 25);
  const areaBox = $('chart-areas');
  areaBox.style.height = Math.max(180, 40 + areas.length * 26) + 'px';
  chart('chart-areas', !areas.some(a => a.rates.lines || a.rates.uploading), {
    tooltip: { trigger: 'axis', valueFormatter: v => v === null ? '—' : v + '%' }, legend: { data: ['采集率', '接入率'] },
    grid: { left: 120, right: 16, top: 30, bottom: 20 },
    xAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
    yAxis: { type: 'category', inverse: true, data: areas.map(a => a.name), axisLabel: { width: 110, overflow: 'truncate' } },
    series: [{ name: '采集率', type: 'bar', data: areas.map(a => pct(a.rates.collection)) },
      { name: '接入率', type: 'bar', data: areas.map(a => pct(a.rates.access)) }],
  });
  const td = (v, cls) => el('td', cls ? { class: cls } : {}, v);
  const areaBody = document.querySelector('#areas-table tbody');
  for (const a of r.areas || []) {
    areaBody.append(el('tr', {}, td(a.name || a.code), td(TW.num(a.rates.lines), 'num'), td(TW.num(a.rates.coded), 'num'),
      td(TW.pct(a.rates.collection), 'num'), td(a.rates.uploading + '/' + a.rates.designated, 'num'), td(TW.pct(a.rates.access), 'num'),
      td(TW.num(a.found), 'num'), td(TW.yuan(a.found_amount_fen), 'num'), td(TW.num(a.overdue), 'num' + (a.overdue ? ' overdue' : ''))));
  }
  if (!(r.areas || []).length) areaBody.append(el('tr', {}, el('td', { colspan: 9, class: 'mute' }, '无')));

  // 三、本月发现线索
  const models = (r.found.by_model || []).slice(0, 15);
  const modelBox = $('chart-models');
  modelBox.style.height = Math.max(180, 30 + models.length * 24) + 'px';
  chart('chart-models', !models.length, {
    tooltip: { trigger: 'axis' }, grid: { left: 120, right: 44, top: 8, bottom: 20 },
    xAxis: { type: 'value', minInterval: 1, splitNumber: 3 },
    yAxis: { type: 'category', inverse: true, data: models.map(x => x.label), axisLabel: { width: 110, overflow: 'truncate' } },
    series: [{ name: '线索', type: 'bar', data: models.map(x => x.clues), label: { show: true, position: 'right' } }],
  });
  const sevColor = { violation: '#c62828', highly_suspicious: '#e07b00', suspicious: '#b58900', notice: '#8893a3' };
  const sev = r.found.by_severity || [];
  chart('chart-severity', !sev.length, {
    tooltip: { trigger: 'item' }, legend: { bottom: 0 },
    series: [{ type: 'pie', radius: ['35%', '62%'], center: ['50%', '45%'], label: { formatter: '{b}\n{c}' },
      data: sev.map(s => ({ name: s.label, value: s.clues, itemStyle: { color: sevColor[s.key] } })) }],
  });
  const top = r.top_institutions || [];
  chart('chart-top', !top.length, {
    tooltip: { trigger: 'axis' }, grid: { left: 130, right: 40, top: 8, bottom: 20 },
    xAxis: { type: 'value', minInterval: 1 },
    yAxis: { type: 'category', inverse: true, data: top.map(t => t.name || t.code), axisLabel: { width: 120, overflow: 'truncate' } },
    series: [{ name: '线索', type: 'bar', data: top.map(t => t.clues), label: { show: true, position: 'right' } }],
  });
  const topBody = document.querySelector('#top-table tbody');
  top.forEach((t, i) => topBody.append(el('tr', {}, td(i + 1), td((t.name || '') + ' ' + t.code), td(t.region_name || t.region),
    td(TW.num(t.clues), 'num'), td(TW.num(t.serious), 'num'), td(TW.yuan(t.amount_fen), 'num'))));
  if (!top.length) topBody.append(el('tr', {}, el('td', { colspan: 6, class: 'mute' }, '本月无新发现线索')));

  // 四、办结与追回
  const results = (c.by_result || []).map(t => ({ name: t.label, value: t.count }));
  if (c.dismissed) results.push({ name: '排除（未进入核查）', value: c.dismissed });
  chart('chart-results', !results.length, {
    tooltip: { trigger: 'item' }, legend: { bottom: 0 },
    series: [{ type: 'pie', radius: ['35%', '62%'], center: ['50%', '45%'], label: { formatter: '{b}\n{c}' }, data: results }],
  });
  const actBody = document.querySelector('#actions-table tbody');
  for (const t of c.by_action || []) actBody.append(el('tr', {}, td('协议处理：' + t.label), td(TW.num(t.count), 'num')));
  for (const t of c.referrals || []) actBody.append(el('tr', {}, td('移送' + t.label), td(TW.num(t.count), 'num')));
  actBody.append(el('tr', {}, td('追回金额（元）'), td(TW.yuan(c.recovered_fen), 'num')),
    el('tr', {}, td('违约金（元）'), td(TW.yuan(c.penalty_fen), 'num')), el('tr', {}, td('罚款（元）'), td(TW.yuan(c.fine_fen), 'num')));
  const closedBody = document.querySelector('#closed-table tbody');
  for (const it of c.items || []) {
    const extra = [it.action_zh, it.referrals_zh ? '移送' + it.referrals_zh : ''].filter(Boolean).join('；');
    closedBody.append(el('tr', {}, td(it.id), td(it.model), td((it.institution_name || '') + ' ' + it.institution), td(TW.day(it.closed_at)),
      td(it.state === 'dismissed' ? '排除' : (it.result_zh || '办结')), td(TW.yuan(it.amount_fen), 'num'), td(TW.yuan(it.recovered_fen), 'num'),
      td(TW.yuan(it.penalty_fen), 'num'), td(TW.yuan(it.fine_fen), 'num'), td(extra)));
  }
  if (!(c.items || []).length) closedBody.append(el('tr', {}, el('td', { colspan: 10, class: 'mute' }, '本月无办结或排除的线索')));

  // 五、逾期未办
  $('overdue-note').textContent = '截至 ' + TW.time(r.as_of) + '，逾期未办线索 ' + TW.num(r.overdue.clues) + ' 条，涉及金额 ' + TW.yuan(r.overdue.amount_fen) + ' 元。';
  const odBody = document.querySelector('#overdue-table tbody');
  for (const s of r.overdue.by_state || []) odBody.append(el('tr', {}, td(s.label), td(TW.num(s.clues), 'num'), td(TW.yuan(s.amount_fen), 'num')));
  if (!(r.overdue.by_state || []).length) odBody.append(el('tr', {}, el('td', { colspan: 3, class: 'mute' }, '无逾期线索')));

  // 六、记分
  const pts = r.points;
  $('points-note').textContent = '本月记分 ' + pts.awards + ' 次，涉及医保医师、药师 ' + pts.practitioners + ' 人，合计 ' + pts.points + ' 分。';
  const bandBody = document.querySelector('#bands-table tbody');
  for (const b of pts.by_responsibility || []) bandBody.append(el('tr', {}, td(b.label), td(TW.num(b.awards), 'num'), td(TW.num(b.points), 'num')));
  const ptsBody = document.querySelector('#points-table tbody');
  for (const i of pts.by_institution || []) ptsBody.append(el('tr', {}, td((i.name || '') + ' ' + i.code), td(TW.num(i.practitioners), 'num'),
    td(TW.num(i.awards), 'num'), td(TW.num(i.points), 'num')));
  if (!(pts.by_institution || []).length) ptsBody.append(el('tr', {}, el('td', { colspan: 4, class: 'mute' }, '本月无记分')));

}
