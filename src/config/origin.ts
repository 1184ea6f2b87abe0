/**
 * The env key that names where the value of `variable` came from (`the instances file entry se-02
 * (urlEnv SE_URL)`), for errors to name instead of the variable: a fleet hands each instance its URL
 * as STORAGE_ELEMENT_DATABASE_URL, which the user never set. Never a real variable (a shell name has no ':').
 */
export const originKey = (variable: string) => `artstore:origin:${variable}`
