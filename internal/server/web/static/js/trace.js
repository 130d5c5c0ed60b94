// 追溯码查询: one box's identity, drug, ledger figures and timeline, from
// GET /api/v1/codes?code= (the page has already said why an input is not a trace code).
'use strict';
TW.kindZh = { nmpa20: '码上放心 20 位码', gs1: 'GS1 码', ma: 'MA 码（IDcode）', enterprise: '企业自定义码' };
TW.eventZh = { stocktake: '盘存', stock_change: '库存变更', purchase: '采购入库', purchase_return: '采购退货', sale: '销售',
  sale_return: '销售退货', deletion: '数据删除', fee_line: '费用明细', settlement: '医保结算', settlement_cancel: '结算撤销' };
TW.changeZh = { '101': '调拨入库', '102': '调拨出库', '103': '盘盈', '104': '盘亏/报损', '105': '销毁', '106': '其他入库', '107': '其他出库', '108': '初始化入库' };
TW.levelZh = { 1: '小码（销售包装）', 2: '中码', 3: '大码（箱）' };
TW.pages.trace = async () => {
  const { el } = TW;
  const input = document.getElementById('trace-code');
  if (input) { input.focus(); input.select(); } // the next scan replaces the last code
  const box = document.getElementById('trace-result');
  const code = box ? box.dataset.code : '';
  if (!code) return;
  let v;
  try {
    v = await TW.api('GET', '/api/v1/codes?code=' + encodeURIComponent(code));
  } catch (err) {
    if (err.status === 400) { // the page checks the code first; say why all the same
      TW.message(document.getElementById('page-error'), (err.data && err.data.message_zh) || err.message, 'err');
      return;
    }
    throw err;
  }
  v = v || {};
  const tl = v.timeline || [];
  const kpi = (label, value, small) => el('div', { class: 'kpi' }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value, small ? el('small', {}, small) : null));
  const net = Math.max((v.sales || 0) - (v.returns || 0), 0);
  const sold = el('span', { class: net > 1 ? 'overdue' : '' }, String(net));
  document.getElementById('trace-kpis').append(
    kpi('销售次数（扣除退货）', sold, '次'),
    kpi('净销售数量', TW.num(Math.round((v.sold_net || 0) * 1000) / 1000), '盒'),
    kpi('销售 / 退货', TW.num(v.sales || 0) + ' / ' + TW.num(v.returns || 0)),
    kpi('首次销售', v.first_sale ? v.first_sale.slice(0, 16) : '—'),
    kpi('经手机构', TW.num((v.institutions || []).length), '家'),
  );
  const instLink = c => c ? el('a', { href: '/institutions/' + encodeURIComponent(c) }, c) : '—';
  const facts = (dl, rows) => { for (const [k, val] of rows) dl.append(el('dt', {}, k), el('dd', {}, val === undefined || val === null || val === '' ? '—' : val)); };
  facts(document.getElementById('trace-identity'), [
    ['类型', TW.kindZh[v.kind] || v.kind],
    ['标准形式', el('code', {}, v.normalized || v.key || '')],
    ['身份键', el('code', {}, v.key || '')],
    ['药品标识码 / GTIN', v.product_id],
    ['序列号', v.serial],
    ['包装层级', TW.levelZh[v.pack_level] || '未知'],
    ['首次销售机构', v.first_seller ? instLink(v.first_seller) : '—'],
    ['入库机构', (v.received_at || []).length ? (v.received_at || []).flatMap((c, i) => i ? [', ', instLink(c)] : [instLink(c)]) : '—'],
  ]);
  const d = v.drug;
  facts(document.getElementById('trace-drug'), d ? [
    ['医保药品编码', el('code', {}, d.med_list_codg || '')],
    ['名称', d.name],
    ['规格', d.spec],
    ['每盒最小单位数', d.pack_content ? TW.num(d.pack_content) : ''],
  ] : [['药品', '未知：码映射（三码合一）中没有这个药品标识码']]);
  document.getElementById('trace-count').textContent = '共 ' + tl.length + ' 条' + (v.timeline_truncated ? '（只显示前 ' + tl.length + ' 条）' : '');
  const body = document.querySelector('#trace-timeline tbody');
  if (!tl.length) body.append(el('tr', {}, el('td', { colspan: 9, class: 'mute' }, '平台尚无这盒药的任何记录（未上传，或不在本地流通）。')));
  for (const e of tl) {
    let kind = TW.eventZh[e.kind] || e.kind;
    if (e.kind === 'stock_change' && TW.changeZh[e.inv_chg_type]) kind += '（' + TW.changeZh[e.inv_chg_type] + '）';
    const notes = [];
    if (e.split_pack) notes.push('拆零');
    if (e.via_parent) notes.push('由上级包装 ' + e.via_parent + ' 展开');
    if (e.withdrawn_by) notes.push('已被 ' + e.withdrawn_by + ' 删除，不计入');
    const person = [e.person, e.certno_masked].filter(Boolean).join(' ');
    body.append(el('tr', { class: e.withdrawn_by ? 'mute' : '' },
      el('td', { style: 'white-space:nowrap' }, e.time || '—'), el('td', { style: 'white-space:nowrap' }, kind, el('small', { class: 'mute' }, ' ' + (e.infno || ''))),
      el('td', {}, instLink(e.institution)), el('td', { class: 'num' }, e.quantity || '—'),
      el('td', {}, e.receipt || '—'), el('td', {}, e.settlement || '—'), el('td', {}, person || '—'),
      el('td', {}, el('code', {}, e.scanned || '')), el('td', {}, notes.join('；'))));
  }
  document.getElementById('trace-note').textContent = '销售次数：不同的销售（同一结算号或单据号只算一次）扣除销售退货和结算撤销。' +
    (document.body.dataset.role === 'admin' || document.body.dataset.role === 'reviewer' || document.body.dataset.role === 'inspector' ? '' : '参保人信息已脱敏。');
  box.hidden = false;
};
