import {BrokerHttp, type RequestOptions} from './broker-http.js'

export interface CatalogPlan {
  id: string
  name: string
  description: string
  free?: boolean
  bindable?: boolean
  plan_updateable?: boolean
}

export interface CatalogService {
  id: string
  name: string
  description: string
  bindable: boolean
  tags?: string[]
  plan_updateable?: boolean
  plans: CatalogPlan[]
}

export interface OsbReply {
  status: number
  body: Record<string, any>
}

export interface LastOperation {
  state: 'in progress' | 'succeeded' | 'failed'
  description?: string
}

/** The OSB API as the CLI calls it, with the platform's credentials; the caller reads the status (201, 200, 202). */
export class OsbClient extends BrokerHttp {
  /** An OSB call whose status the caller interprets (201 vs 200 vs 202). */
  protected async osb(method: string, path: string, options: RequestOptions = {}): Promise<OsbReply> {
    const response = await this.fetch(method, path, options)
    const text = await response.text()
    const body = text ? (JSON.parse(text) as Record<string, any>) : {}
    if (response.status >= 400 && !(response.status === 410 && method === 'DELETE'))
      throw this.failure(response.status, body, false)
    return {status: response.status, body}
  }

  async catalog(): Promise<CatalogService[]> {
    return (await this.json<{services: CatalogService[]}>('GET', '/v2/catalog')).services
  }

  provision(instanceId: string, body: Record<string, unknown>, acceptsIncomplete = false): Promise<OsbReply> {
    return this.osb('PUT', `/v2/service_instances/${encodeURIComponent(instanceId)}`, {
      body,
      query: {accepts_incomplete: acceptsIncomplete || undefined},
    })
  }

  /** PATCH: a new plan and/or parameters for an existing instance. */
  update(instanceId: string, body: Record<string, unknown>, acceptsIncomplete = false): Promise<OsbReply> {
    return this.osb('PATCH', `/v2/service_instances/${encodeURIComponent(instanceId)}`, {
      body,
      query: {accepts_incomplete: acceptsIncomplete || undefined},
    })
  }

  deprovision(
    instanceId: string,
    ids: {serviceId: string; planId: string},
    acceptsIncomplete = false,
  ): Promise<OsbReply> {
    return this.osb('DELETE', `/v2/service_instances/${encodeURIComponent(instanceId)}`, {
      query: {service_id: ids.serviceId, plan_id: ids.planId, accepts_incomplete: acceptsIncomplete || undefined},
    })
  }

  bind(instanceId: string, bindingId: string, body: Record<string, unknown>): Promise<OsbReply> {
    return this.osb(
      'PUT',
      `/v2/service_instances/${encodeURIComponent(instanceId)}/service_bindings/${encodeURIComponent(bindingId)}`,
      {body},
    )
  }

  unbind(instanceId: string, bindingId: string, ids: {serviceId: string; planId: string}): Promise<OsbReply> {
    return this.osb(
      'DELETE',
      `/v2/service_instances/${encodeURIComponent(instanceId)}/service_bindings/${encodeURIComponent(bindingId)}`,
      {
        query: {service_id: ids.serviceId, plan_id: ids.planId},
      },
    )
  }

  lastOperation(instanceId: string, operation?: string): Promise<LastOperation> {
    return this.json('GET', `/v2/service_instances/${encodeURIComponent(instanceId)}/last_operation`, {
      query: {operation},
    })
  }
}
