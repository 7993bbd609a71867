export { type ListenOptions, listenLocalProvider, type RunningProvider } from './listen.ts'
export { type BrowserFetch, scriptedBrowser, signInAtProvider } from './scripted-browser.ts'
export { type LocalUser, SEEDED_USERS } from './users.ts'
