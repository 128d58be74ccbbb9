/** A service of the stored catalog as the admin API shows it: its definition (the catalog file's shape) with its version. */
export interface CatalogServiceView {
  id: string
  name: string
  /** 1 when added, one more with each update: what an update names. */
  version: number
  createdAt: number
  updatedAt: number
  definition: {id: string; name: string; plans: Array<{id: string; name: string}>} & Record<string, unknown>
}

export interface CatalogList {
  /** One more with every change of the catalog, on every broker of the store. */
  generation: number
  services: CatalogServiceView[]
}

export interface CatalogChange {
  generation: number
  service: CatalogServiceView
  /** False when an update gave the definition the service has already: nothing was written. */
  changed: boolean
}

/** Where in the request body a service given to the admin API is wrong (`service.plans[0].id`), and how. */
export interface CatalogProblem {
  path: string
  message: string
}
