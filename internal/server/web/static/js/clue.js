// 线索详情: explanation, evidence, each code's events, amounts, history, attachments and
// the actions the user's role allows now.
'use strict';
TW.pages.clue = async () => {
  const { el } = TW;
  const id = document.getElementById('clue-id').textContent.trim();
  const c = await TW.api('GET', '/api/v1/clues/' + encodeURIComponent(id));
  const role = document.body.dataset.role;
  document.title = '线索 ' + c.id + ' · 码上哨兵';
  document.getElementById('clue-badges').append(TW.sev(c.severity), ' ', TW.state(c.state), c.overdue ? el('span', { class: 'overdue' }, ' 已逾期') : '');
  document.getElementById('clue-explanation').textContent = c.explanation;
  const fl = c.workflow || {};
  const facts = [
    ['模型', c.detector + (c.rule ? '（' + c.rule + '）' : '')],
    ['机构', c.institution ? el('a', { href: '/institutions/' + encodeURIComponent(c.institution) }, c.institution) : '—'],
    ['统筹区', c.region || '未知'],
    ['涉及金额', TW.yuan(c.amount_fen) + ' 元' + (c.amount_basis_zh ? '（' + c.amount_basis_zh + '）' : '')],
    ['首次发现', TW.time(c.first_seen)], ['最近发现', TW.time(c.last_seen)],
    ['当前环节', (TW.stateZh[c.state] || c.state) + '，自 ' + TW.time(fl.since)],
  ];
  if (fl.deadline) facts.push(['办理时限', el('span', { class: c.overdue ? 'overdue' : '' }, TW.time(fl.deadline))]);
  if (fl.dispatch_region) facts.push(['下发地区', fl.dispatch_region]);
  if (fl.case_id) facts.push(['案件', String(fl.case_id)]);
  if (c.quorum) facts.push(['合议', '已投 ' + (c.votes || []).length + ' 票，需 ' + c.quorum + ' 票']);
  if (c.persons && c.persons.length) facts.push(['参保人', c.persons.join('、')]);
  if (c.receipts && c.receipts.length) facts.push(['票据号', c.receipts.join('、')]);
  const o = fl.outcome;
  if (o) facts.push(['办结结果', ({ confirmed: '违规属实', partial: '部分属实', dismissed: '排除' }[o.outcome] || o.outcome) +
    '；追回 ' + TW.yuan(o.recovered_fen) + ' 元，违约金 ' + TW.yuan(o.penalty_fen) + ' 元' + (o.fine_fen ? '，罚款 ' + TW.yuan(o.fine_fen) + ' 元' : '')]);
  const dl = document.getElementById('clue-facts');
  for (const [k, v] of facts) dl.append(el('dt', {}, k), el('dd', {}, v));
  const ev = document.getElementById('clue-evidence');
  const evidence = c.evidence || [];
  const showEvidence = n => {
    ev.replaceChildren();
    for (const e of evidence.slice(0, n)) {
      ev.append(el('li', {}, el('b', {}, TW.time(e.time)), ' ', e.what, e.institution ? ' · ' + e.institution : '', e.ref ? el('span', { class: 'mute' }, ' ' + e.ref) : '',
        e.note ? el('div', {}, e.note) : ''));
    }
    if (evidence.length > n) {
      ev.append(el('li', { class: 'noprint' }, el('button', { type: 'button', class: 'secondary', onclick: () => showEvidence(evidence.length) },
        '展开其余 ' + (evidence.length - n) + ' 条证据')));
    }
    if (!evidence.length) ev.append(el('li', { class: 'mute' }, '无'));
  };
  showEvidence(20);
  // Each code's events (staff may read the trace view; an institution user sees its evidence only).
  const codesBox = document.getElementById('clue-codes');
  const codes = (c.codes || []).slice(0, 10);
  if (role === 'institution' || !codes.length) document.getElementById('codes-card').hidden = true;
  else {
    codesBox.replaceChildren();
    const kindZh = { sale: '销售', sale_return: '销售退货', purchase: '采购入库', purchase_return: '采购退货', stock_change: '库存变更', stocktake: '盘存',
      settlement: '结算', settlement_cancel: '结算撤销', fee_line: '费用明细', deletion: '删除' };
    for (const code of codes) {
      let v;
      try { v = await TW.api('GET', '/api/v1/codes?code=' + encodeURIComponent(code)); } catch (e) { codesBox.append(el('p', { class: 'error' }, code + '：' + e.message)); continue; }
      const rows = (v.timeline || []).map(t => el('tr', {}, el('td', {}, TW.time(t.time)), el('td', {}, kindZh[t.kind] || t.kind),
        el('td', {}, el('a', { href: '/institutions/' + encodeURIComponent(t.institution) }, t.institution)), el('td', { class: 'num' }, t.quantity + (t.split_pack ? '（拆零）' : '')),
        el('td', {}, t.receipt || t.settlement || ''), el('td', { class: 'mute' }, t.withdrawn_by ? '已删除' : (t.via_parent ? '经上级包装 ' + t.via_parent : ''))));
      codesBox.append(el('h3', {}, el('a', { href: '/trace?code=' + encodeURIComponent(code) }, code), ' ',
        el('span', { class: 'mute' }, (v.drug ? (v.drug.name || v.drug.med_list_codg) + ' ' + (v.drug.spec || '') : '') + ' · 销售 ' + v.sales + ' 次，净销售 ' + v.sold_net)),
        el('div', { class: 'table-wrap' }, el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, '时间'), el('th', {}, '事件'), el('th', {}, '机构'), el('th', { class: 'num' }, '数量'), el('th', {}, '票据/结算'), el('th', {}, ''))),
          el('tbody', {}, rows))));
    }
    if ((c.codes || []).length > codes.length) codesBox.append(el('p', { class: 'mute' }, '另有 ' + (c.codes.length - codes.length) + ' 个追溯码未列出'));
  }
  // History.
  const steps = document.getElementById('clue-steps');
  steps.append(el('li', {}, el('b', {}, TW.time(c.first_seen)), ' 机审发现'));
  for (const s of c.steps || []) {
    steps.append(el('li', {}, el('b', {}, TW.time(s.time)), ' ', s.actor, '（', s.role, '）：',
      s.vote ? '合议投票' + (s.applied ? '（已达法定票数）' : '') : (TW.stateZh[s.from] || s.from) + ' → ' + (TW.stateZh[s.to] || s.to),
      s.region ? ' · 下发 ' + s.region : '', s.deadline ? ' · 时限 ' + TW.day(s.deadline) : '', s.note ? el('div', {}, s.note) : ''));
  }
  const atts = document.getElementById('clue-attachments');
  for (const a of c.attachments || []) {
    atts.append(el('li', {}, el('a', { href: '/api/v1/clues/' + c.id + '/attachments/' + a.id }, a.name), el('span', { class: 'mute' }, ' ' + TW.num(a.size) + ' 字节 · ' + a.actor + ' · ' + TW.time(a.time))));
  }
  if (!(c.attachments || []).length) atts.append(el('li', { class: 'mute' }, '无'));
  const msg = document.getElementById('action-msg');
  if (role !== 'viewer') {
    const af = document.getElementById('attach-form');
    af.hidden = false;
    af.addEventListener('submit', async ev => {
      ev.preventDefault();
      try { await TW.api('POST', '/api/v1/clues/' + c.id + '/attachments', new FormData(af)); location.reload(); } catch (e) { TW.message(msg, '上传失败：' + e.message, 'err'); }
    });
  }
  // Actions: one form per state the user may move the clue to now.
  const box = document.getElementById('clue-actions');
  const allowed = c.allowed || [];
  if (!allowed.length) { box.append(el('p', { class: 'mute' }, '当前环节无可办理的操作')); return; }
  const label = (text, input) => el('label', {}, text, ' ', input);
  for (const to of allowed) {
    const f = el('form', { 'data-to': to });
    const title = c.state === 'reviewed' && to === 'deliberated' ? '合议投票（同意）' : (TW.stateZh[to] || to);
    f.append(el('h3', {}, title));
    if (to === 'dispatched') {
      f.append(label('下发至（地市或区县代码）', el('input', { name: 'region', required: true, pattern: '[0-9]{6}', size: 8, value: c.region && c.region.length === 6 ? c.region : '' })),
        label('办理时限', el('input', { name: 'deadline', type: 'date' })));
    }
    if (to === 'reviewed') f.append(label('提请合议', el('input', { name: 'deliberate', type: 'checkbox' })));
    if (to === 'closed') {
      f.append(label('结果', el('select', { name: 'outcome', required: true }, el('option', { value: 'confirmed' }, '违规属实'), el('option', { value: 'partial' }, '部分属实'), el('option', { value: 'dismissed' }, '排除'))),
        label('追回金额（元）', el('input', { name: 'recovered', inputmode: 'decimal', size: 10, value: '0' })),
        label('违约金（元）', el('input', { name: 'penalty', inputmode: 'decimal', size: 10, value: '0' })),
        label('罚款（元）', el('input', { name: 'fine', inputmode: 'decimal', size: 10, value: '0' })),
        label('协议处理', el('select', { name: 'agreement_action' }, el('option', { value: '' }, '无'), el('option', { value: 'interview' }, '约谈'), el('option', { value: 'rectify' }, '限期整改'),
          el('option', { value: 'suspend' }, '暂停'), el('option', { value: 'terminate' }, '解除'))),
        label('移送公安', el('input', { name: 'ref_police', type: 'checkbox' })), label('移送纪检', el('input', { name: 'ref_discipline', type: 'checkbox' })),
        label('记分（医师/药师代码:分值:责任，可多行，责任 minor/general/important/main）', el('textarea', { name: 'points', rows: 2, placeholder: 'D0001:3:minor' })));
    }
    f.append(label('意见', el('textarea', { name: 'note', required: true, maxlength: 4000 })), el('button', { type: 'submit' }, '提交' + title));
    f.addEventListener('submit', async ev => {
      ev.preventDefault();
      const fe = f.elements;
      const body = { to, note: fe.note.value };
      if (fe.region) body.region = fe.region.value.trim();
      if (fe.deadline && fe.deadline.value) body.deadline = fe.deadline.value;
      if (fe.deliberate && fe.deliberate.checked) body.deliberate = true;
      if (to === 'closed') {
        const fen = v => Math.round(parseFloat(v || '0') * 100) || 0;
        body.outcome = fe.outcome.value;
        body.recovered_fen = fen(fe.recovered.value); body.penalty_fen = fen(fe.penalty.value); body.fine_fen = fen(fe.fine.value);
        if (fe.agreement_action.value) body.agreement_action = fe.agreement_action.value;
        const refs = [];
        if (fe.ref_police.checked) refs.push('police');
        if (fe.ref_discipline.checked) refs.push('discipline');
        if (refs.length) body.referrals = refs;
        const pts = fe.points.value.split('\n').map(s => s.trim()).filter(Boolean).map(s => {
          const [practitioner, points, responsibility] = s.split(':');
          return { practitioner: (practitioner || '').trim(), points: parseInt(points, 10) || 0, responsibility: (responsibility || '').trim() };
        });
        if (pts.length) body.points = pts;
      }
      for (const b of box.querySelectorAll('button')) b.disabled = true;
      try {
        await TW.api('POST', '/api/v1/clues/' + c.id + '/transitions', body);
        location.reload();
      } catch (e) {
        TW.message(msg, '办理失败：' + e.message, 'err');
        for (const b of box.querySelectorAll('button')) b.disabled = false;
      }
    });
    box.append(f);
  }
};
