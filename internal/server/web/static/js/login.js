// The sign-in form: fields name and password, posted to /api/v1/login.
'use strict';
TW.pages.login = () => {
  const form = document.getElementById('login-form');
  const box = form.querySelector('.error');
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    box.hidden = true;
    const body = new URLSearchParams(new FormData(form));
    const res = await fetch('/api/v1/login', { method: 'POST', body, credentials: 'same-origin',
      headers: { 'Accept': 'application/json' } });
    if (res.ok) {
      const next = form.elements.next.value;
      location.href = next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
      return;
    }
    let msg = '登录失败';
    try { const d = await res.json(); msg = res.status === 401 ? '用户名或密码不正确' : (d.message || msg); } catch (e) { /* keep the default */ }
    box.textContent = msg;
    box.hidden = false;
  });
};
