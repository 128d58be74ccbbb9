/** A container as the ordering sees it: its name and the names it depends on (on the same host). */
export interface DependencyNode {
  name: string
  dependsOn: readonly string[]
}

/** The first dependency cycle found, as a path that ends where it starts (`a -> b -> a`), or undefined. */
export function findCycle(nodes: readonly DependencyNode[]): string[] | undefined {
  const byName = new Map(nodes.map((n) => [n.name, n]))
  const done = new Set<string>()
  const onPath: string[] = []
  const visit = (name: string): string[] | undefined => {
    const at = onPath.indexOf(name)
    if (at >= 0) return [...onPath.slice(at), name]
    if (done.has(name) || !byName.has(name)) return undefined
    onPath.push(name)
    for (const dependency of byName.get(name)!.dependsOn) {
      const cycle = visit(dependency)
      if (cycle) return cycle
    }
    onPath.pop()
    done.add(name)
    return undefined
  }
  for (const node of nodes) {
    const cycle = visit(node.name)
    if (cycle) return cycle
  }
  return undefined
}

/**
 * Names in the order to start them: every container after all it depends on,
 * otherwise in the given order (so the manifest's order decides ties).
 * Dependencies on names not in `nodes` are ignored; a cycle throws.
 */
export function startOrder(nodes: readonly DependencyNode[]): string[] {
  const cycle = findCycle(nodes)
  if (cycle) throw new Error(`dependency cycle ${cycle.join(' -> ')}`)
  const known = new Set(nodes.map((n) => n.name))
  const started = new Set<string>()
  const order: string[] = []
  while (order.length < nodes.length) {
    for (const node of nodes) {
      if (started.has(node.name) || !node.dependsOn.every((d) => started.has(d) || !known.has(d))) continue
      started.add(node.name)
      order.push(node.name)
      break
    }
  }
  return order
}

/**
 * For each container, every container that must restart after it restarts:
 * those that depend on it, directly or through others, in start order.
 */
export function dependentsOf(nodes: readonly DependencyNode[]): Map<string, string[]> {
  const order = startOrder(nodes)
  const direct = new Map<string, Set<string>>(nodes.map((n) => [n.name, new Set()]))
  for (const node of nodes) for (const dependency of node.dependsOn) direct.get(dependency)?.add(node.name)
  const result = new Map<string, string[]>()
  for (const name of order) {
    const reached = new Set<string>()
    const stack = [...direct.get(name)!]
    while (stack.length > 0) {
      const next = stack.pop()!
      if (reached.has(next)) continue
      reached.add(next)
      stack.push(...direct.get(next)!)
    }
    result.set(
      name,
      order.filter((n) => reached.has(n)),
    )
  }
  return result
}
