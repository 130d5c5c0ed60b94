// 首页: the region's collection and access rates, clues, money and grades.
'use strict';
TW.pages.dashboard = async () => {
  const form = document.getElementById('dash-filter');
  const q = TW.query();
  if (q.get('days')) form.elements.days.value = q.get('days');
  const params = new URLSearchParams();
  for (const k of ['region', 'days', 'from', 'to']) if (q.get(k)) params.set(k, q.get(k));
  const d = await TW.api('GET', '/api/v1/dashboard?' + params);
  const { el } = TW;
  document.getElementById('dash-region').textContent = d.region_name + (d.region ? '（' + d.region + '）' : '');
  document.getElementById('dash-period').textContent = '统计周期 ' + d.from + ' 至 ' + d.to + '；线索为该地区全部线索。数据更新于 ' + TW.time(d.generated_at);
  // The region selector: this region, its parent, its areas.
  const sel = document.getElementById('dash-region-select');
  const user = document.body.dataset.region || '';
  const opts = [[d.region, d.region_name + '（当前）']];
  if (d.region && d.region !== user) {
    const up = d.region.endsWith('0000') ? '' : d.region.endsWith('00') ? d.region.slice(0, 2) + '0000' : d.region.slice(0, 4) + '00';
    if (!user || up.startsWith(user.replace(/0+$/, '')) || up === user) opts.push([up, '上一级']);
  }
  if (d.area_level !== 'institution') for (const a of d.areas || []) if (a.code) opts.push([a.code, a.name]);
  for (const [v, t] of opts) sel.append(el('option', { value: v }, t));
  sel.value = d.region;
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (sel.value) p.set('region', sel.value);
    p.set('days', form.elements.days.value);
    location.search = p.toString();
  });
  const kpi = (label, value, small, title) => el('div', { class: 'kpi', title: title || '' }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value, small ? el('small', {}, small) : null));
  const r = d.rates, c = d.clues;
  document.getElementById('kpis').append(
    kpi('追溯码采集率', TW.pct(r.collection), TW.num(r.coded) + '/' + TW.num(r.lines) + ' 行', '带有效追溯码的医保药品销售行 / 医保药品销售行（中药饮片、颗粒除外）'),
    kpi('接入率', TW.pct(r.access), r.uploading + '/' + r.designated + ' 家', '周期内有上传的定点机构 / 定点机构'),
    kpi('健康度', TW.grade(d.grade)),
    kpi('线索', TW.num(c.clues), '在办 ' + TW.num(c.open)),
    kpi('逾期线索', el('a', { href: '/clues?overdue=true' + (d.region ? '&region=' + d.region : ''), class: c.overdue ? 'overdue' : '' }, TW.num(c.overdue))),
    kpi('涉及金额', TW.wan(c.amount_fen)),
    kpi('追回金额', TW.wan(c.recovered_fen), '违约金/罚款 ' + TW.wan(c.penalty_fen)),
  );
  const pct = v => v === null || v === undefined ? null : +(v * 100).toFixed(2);
  const days = d.days || [];
  TW.chart(document.getElementById('chart-days'), {
    tooltip: { trigger: 'axis', valueFormatter: v => v === null ? '—' : v + '%' },
    legend: { data: ['采集率', '接入率'] }, grid: { left: 48, right: 16, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: days.map(x => x.day.slice(5)) },
    yAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
    series: [{ name: '采集率', type: 'line', data: days.map(x => pct(x.collection)), connectNulls: false },
      { name: '接入率', type: 'line', data: days.map(x => pct(x.access)) }],
  });
  const levelZh = { province: '省', city: '地市', county: '区县', institution: '机构' };
  document.getElementById('areas-title').textContent = '各' + (levelZh[d.area_level] || '地区') + '采集率与接入率';
  const areas = (d.areas || []).filter(a => a.rates.collection !== null || a.rates.access !== null)
    .sort((a, b) => (a.rates.collection ?? 2) - (b.rates.collection ?? 2)).slice(0, 30);
  const note = document.getElementById('map-note');
  let drawn = false;
  if (d.map && d.map.url) {
    // The deployer's boundary map: areas matched by their administrative code.
    try {
      const geo = await TW.api('GET', d.map.url);
      drawn = drawMap(geo, d, pct, form.elements.days.value);
    } catch (e) {
      TW.message(note, '地图 ' + d.map.file + ' 无法加载：' + e.message + '；改为排名显示。', 'info');
    }
  } else if (d.map && d.map.error) {
    TW.message(note, '地图文件 ' + d.map.file + ' 无效（' + d.map.error + '）；改为排名显示。', 'info');
  }
  if (!drawn) TW.chart(document.getElementById('chart-areas'), {
    tooltip: { trigger: 'axis', valueFormatter: v => v === null ? '—' : v + '%' }, legend: { data: ['采集率', '接入率'] },
    grid: { left: 110, right: 24, top: 36, bottom: 20 },
    xAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
    yAxis: { type: 'category', data: areas.map(a => a.name), axisLabel: { width: 100, overflow: 'truncate' } },
    series: [{ name: '采集率', type: 'bar', data: areas.map(a => pct(a.rates.collection)) },
      { name: '接入率', type: 'bar', data: areas.map(a => pct(a.rates.access)) }],
  });
  const models = (d.by_model || []).slice(0, 20).reverse();
  TW.chart(document.getElementById('chart-models'), {
    tooltip: { trigger: 'axis' }, grid: { left: 150, right: 40, top: 10, bottom: 20 },
    xAxis: { type: 'value' }, yAxis: { type: 'category', data: models.map(m => m.label), axisLabel: { width: 140, overflow: 'truncate' } },
    series: [{ name: '线索', type: 'bar', data: models.map(m => m.clues), label: { show: true, position: 'right' } }],
  });
  const sevColor = { violation: '#c62828', highly_suspicious: '#e07b00', suspicious: '#b58900', notice: '#8893a3' };
  TW.chart(document.getElementById('chart-severity'), {
    tooltip: { trigger: 'item' }, legend: { bottom: 0 },
    series: [{ type: 'pie', radius: ['35%', '65%'], data: (d.by_severity || []).map(s => ({ name: s.label, value: s.clues, itemStyle: { color: sevColor[s.key] } })) }],
  });
  TW.chart(document.getElementById('chart-states'), {
    tooltip: { trigger: 'axis' }, grid: { left: 40, right: 10, top: 10, bottom: 40 },
    xAxis: { type: 'category', data: (d.by_state || []).map(s => s.label), axisLabel: { interval: 0, rotate: 30 } },
    yAxis: { type: 'value' }, series: [{ type: 'bar', data: (d.by_state || []).map(s => s.clues) }],
  });
  const body = document.querySelector('#areas-table tbody');
  for (const a of d.areas || []) {
    const link = d.area_level === 'institution' ? '/institutions/' + encodeURIComponent(a.code) : a.code ? '/?region=' + a.code + '&days=' + form.elements.days.value : null;
    body.append(el('tr', {}, el('td', {}, link ? el('a', { href: link }, a.name) : a.name),
      el('td', { class: 'num' }, TW.pct(a.rates.collection)), el('td', { class: 'num' }, TW.pct(a.rates.access)),
      el('td', { class: 'num' }, TW.num(a.rates.lines)), el('td', { class: 'num' }, a.rates.uploading + '/' + a.rates.designated),
      el('td', { class: 'num' }, TW.num(a.clues)), el('td', { class: 'num' }, TW.num(a.open)),
      el('td', { class: 'num' + (a.overdue ? ' overdue' : '') }, TW.num(a.overdue)),
      el('td', { class: 'num' }, TW.yuan(a.amount_fen)), el('td', { class: 'num' }, TW.yuan(a.recovered_fen)), el('td', {}, TW.grade(a.grade))));
  }
  const t = d.thresholds;
  document.getElementById('grade-note').textContent = '健康度：优秀 = 采集率 ≥ ' + TW.pct(t.excellent.collection) + '、接入率 ≥ ' + TW.pct(t.excellent.access) +
    '、逾期占在办 ≤ ' + TW.pct(t.excellent.overdue) + '；良好 = ' + TW.pct(t.good.collection) + ' / ' + TW.pct(t.good.access) + ' / ' + TW.pct(t.good.overdue) +
    '；否则告警。无销售与上传数据的地区为“无数据”。阈值见数据目录 monitor.json。';
  const drops = document.querySelector('#drops-table tbody');
  if (!(d.drops || []).length) drops.append(el('tr', {}, el('td', { colspan: 5, class: 'mute' }, '近 ' + t.drop_days + ' 天无降幅超过 ' + t.drop_points + ' 个百分点的对象')));
  for (const x of d.drops || []) {
    const href = x.kind === 'institution' ? '/institutions/' + encodeURIComponent(x.code) : '/?region=' + x.code;
    drops.append(el('tr', {}, el('td', {}, el('a', { href }, x.name || x.code)), el('td', {}, x.rate === 'access' ? '接入率' : '采集率'),
      el('td', { class: 'num' }, TW.pct(x.before)), el('td', { class: 'num overdue' }, TW.pct(x.after)), el('td', {}, x.since)));
  }
  const low = document.querySelector('#lowest-table tbody');
  for (const a of d.lowest || []) {
    low.append(el('tr', {}, el('td', {}, el('a', { href: '/institutions/' + encodeURIComponent(a.code) }, a.name || a.code)),
      el('td', { class: 'num' }, TW.pct(a.rates.collection)), el('td', { class: 'num' }, TW.num(a.rates.lines))));
  }
};

// drawMap draws the region's areas on the deployer's map, coloured by 采集率; a click opens
// that area's dashboard. It reports whether a map was drawn.
function drawMap(geo, d, pct, days) {
  const box = document.getElementById('chart-areas');
  if (!window.echarts || !box || !geo || !(geo.features || []).length) return false;
  const key = 'tw-' + (d.region || '000000');
  echarts.registerMap(key, geo);
  const byCode = {};
  for (const a of d.areas || []) if (a.code) byCode[a.code] = a;
  const names = {};
  for (const f of geo.features) names[f.properties.adcode] = (byCode[f.properties.adcode] || {}).name || f.properties.name || f.properties.adcode;
  document.getElementById('areas-title').textContent += '（地图）';
  const ex = pct(d.thresholds.excellent.collection), good = pct(d.thresholds.good.collection);
  box.classList.add('map');
  const c = TW.chart(box, {
    tooltip: {
      trigger: 'item', formatter: p => {
        const a = byCode[p.name];
        if (!a) return names[p.name] + '<br>无数据';
        return a.name + '<br>采集率 ' + TW.pct(a.rates.collection) + '<br>接入率 ' + TW.pct(a.rates.access) + '<br>健康度 ' + a.grade;
      },
    },
    // Coloured by the grade thresholds of 采集率 (monitor.json).
    visualMap: { type: 'piecewise', left: 8, bottom: 8, pieces: [
      { min: ex, label: '采集率 ≥ ' + ex + '%', color: '#2e7d32' },
      { min: good, lt: ex, label: good + '% – ' + ex + '%', color: '#f0b429' },
      { lt: good, label: '< ' + good + '%', color: '#c62828' }] },
    series: [{
      type: 'map', map: key, nameProperty: 'adcode', roam: false, selectedMode: false,
      label: { show: true, fontSize: 11, formatter: p => names[p.name] || p.name },
      emphasis: { label: { show: true } },
      data: Object.values(byCode).filter(a => a.rates.collection !== null).map(a => ({ name: a.code, value: pct(a.rates.collection) })),
    }],
  });
  if (c) c.on('click', p => { if (byCode[p.name]) location.href = '/?region=' + p.name + '&days=' + days; });
  return !!c;
}
