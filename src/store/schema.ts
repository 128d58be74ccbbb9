/** Row shapes. JSON lives in text columns and booleans in integers, so one query serves SQLite and PostgreSQL. */
export interface HostsTable {
  id: string
  service_address: string
  bind_address: string
  agent_url: string | null
  port_min: number
  port_max: number
  status: string
  drained: number
  zone: string | null
  labels: string
  facts: string | null
  last_heartbeat: number
  created_at: number
  max_containers: number | null
  max_memory: number | null
  keepalive_ms: number | null
}

export interface BrokersTable {
  id: string
  url: string | null
  started_at: number
  heartbeat_at: number
}

export interface InstancesTable {
  id: string
  service_id: string
  plan_id: string
  host_id: string
  state: string
  organization_guid: string
  space_guid: string
  parameters: string
  context: string
  maintenance_info: string | null
  credentials: string
  spec: string
  dashboard_url: string | null
  name: string | null
  request_key: string
  created_at: number
  updated_at: number
}

export interface BindingsTable {
  id: string
  instance_id: string
  service_id: string
  plan_id: string
  state: string
  app_guid: string | null
  bind_resource: string | null
  parameters: string
  context: string
  credentials: string
  request_key: string
  created_at: number
  updated_at: number
  expires_at: number | null
}

export interface OperationsTable {
  id: string
  kind: string
  instance_id: string
  binding_id: string | null
  state: string
  description: string
  request_key: string
  originating_identity: string | null
  request_identity: string | null
  owner: string | null
  created_at: number
  updated_at: number
}

export interface PortsTable {
  host_id: string
  port: number
  instance_id: string
  container_port: number
}

export interface SpareUsersTable {
  username: string
  instance_id: string
  password: string
  created_at: number
}

export interface HostIdentitiesTable {
  host_id: string
  token_hash: string
  enrolled_at: number
  /** JSON of the address change the host asked for, until the operator approves it. */
  pending: string | null
}

export interface InstallationTable {
  id: string
  created_at: number
}

export interface DeploymentsTable {
  name: string
  file: string
  manifest: string
  version: number
  created_at: number
  updated_at: number
}

export interface DeploymentContainersTable {
  instance_id: string
  deployment: string
  host_id: string
  name: string
  spec: string
  state: string
  error: string | null
  created_at: number
  updated_at: number
}

export interface HostRegistrySettingsTable {
  /** A host id, or `*` for every host without its own. */
  host_id: string
  mirrors: string
  insecure: string
  updated_at: number
}

export interface RegistryLoginsTable {
  registry: string
  username: string
  password: string
  updated_at: number
}

export interface SharedContainersTable {
  id: string
  host_id: string
  name: string
  plan_id: string
  state: string
  spec: string
  created_at: number
  updated_at: number
}

export interface CatalogServicesTable {
  id: string
  name: string
  position: number
  definition: string
  version: number
  created_at: number
  updated_at: number
}

export interface CatalogStateTable {
  id: number
  generation: number
  seeded_from: string
  updated_at: number
}

export interface Database {
  hosts: HostsTable
  instances: InstancesTable
  bindings: BindingsTable
  operations: OperationsTable
  ports: PortsTable
  brokers: BrokersTable
  spare_users: SpareUsersTable
  host_identities: HostIdentitiesTable
  installation: InstallationTable
  deployments: DeploymentsTable
  deployment_containers: DeploymentContainersTable
  host_registry_settings: HostRegistrySettingsTable
  registry_logins: RegistryLoginsTable
  shared_containers: SharedContainersTable
  catalog_services: CatalogServicesTable
  catalog_state: CatalogStateTable
}
