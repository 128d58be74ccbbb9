/** What the engine retries an `on-failure` container that names no N (docker's own default would be forever). */
export const DEFAULT_ON_FAILURE_RETRIES = 5
