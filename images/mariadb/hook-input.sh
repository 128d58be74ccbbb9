# Sourced by /dbroker/bind, unbind, provision and deprovision: the JSON
# document on stdin (see images/README.md) and names derived from its ids.
# Expects `die`.

# Reads stdin (at most 64 KiB) into DOCUMENT; it must be a JSON object.
read_document() {
  local doc
  doc=$(head -c 65537) || die "could not read stdin"
  ((${#doc} <= 65536)) || die "the JSON document on stdin is larger than 64 KiB"
  jq -e 'type == "object"' >/dev/null 2>&1 <<<"$doc" || die "stdin is not a JSON object"
  DOCUMENT=$doc
}

# A top-level string field of DOCUMENT ('' when absent; an error when not a string).
doc_string() {
  local v
  v=$(jq -r --arg k "$1" '.[$k] as $v | if $v == null then "" elif ($v | type) == "string" then $v else error("not a string") end' <<<"$DOCUMENT" 2>/dev/null) \
    || die "\"$1\" in the JSON document must be a string"
  printf '%s' "$v"
}

# prefix + 12 hex digits of the id's SHA-256: the same id always names the same thing.
derived_name() { printf '%s%s' "$1" "$(printf '%s' "$2" | sha256sum | cut -c1-12)"; }

# 32 random letters and digits.
random_password() {
  local pw=''
  while ((${#pw} < 32)); do pw+=$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9'); done
  printf '%s' "${pw:0:32}"
}

# The database a document speaks of: "database", else derived from "instance_id".
doc_database() {
  local d id
  d=$(doc_string database)
  if [[ -z $d ]]; then
    id=$(doc_string instance_id)
    [[ -n $id ]] || die "the JSON document needs \"database\" or \"instance_id\""
    d=$(derived_name db "$id")
  fi
  printf '%s' "$d"
}
