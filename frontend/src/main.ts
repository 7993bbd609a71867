// The app's entry: its pages and routes.
import '@picocss/pico/css/pico.min.css'
import './style.css'
import { startApp } from './app-shell.ts'
import { adminPage } from './pages/admin.ts'
import { boxPage, bucketPage } from './pages/buckets.ts'
import { finishSignIn, homePage, signInError, signInPage } from './pages/home.ts'
import { keysPage } from './pages/keys.ts'
import { mfaPage } from './pages/mfa.ts'
import { sendPage } from './pages/send.ts'
import { verifyPage } from './pages/verify.ts'

const root = document.getElementById('app')
if (root) {
  if (location.pathname === '/') history.replaceState(null, '', '/app')
  const failed = await finishSignIn()
  startApp(
    root,
    [
      [/^\/app\/?$/, homePage],
      [/^\/app\/mfa$/, mfaPage],
      [/^\/app\/keys$/, keysPage],
      [/^\/app\/send$/, sendPage],
      [/^\/app\/inbox$/, boxPage('inbox')],
      [/^\/app\/outbox$/, boxPage('outbox')],
      [/^\/app\/buckets\/(?<id>[0-9a-f-]{36})$/, bucketPage],
      [/^\/app\/verify$/, verifyPage],
      [/^\/app\/admin$/, adminPage],
    ],
    failed ? signInError(failed) : signInPage,
  )
}
