# Sourced by the /dbroker executables that take the JSON form (images/README.md,
# point 7): the document on stdin and names derived from its ids. Expects `die`.
# The same file is in images/redis/ and images/postgresql/ (each image is built
# from its own directory); test/images checks that the copies agree.

# Fields the document may carry: strings, and objects (unknown fields are ignored).
DOCUMENT_STRING_FIELDS='["instance_id","binding_id","service_id","plan_id","database","username","password","key_prefix"]'
DOCUMENT_OBJECT_FIELDS='["parameters","context"]'

# Reads stdin (at most 64 KiB) into DOCUMENT: one JSON object whose known fields
# have their types and hold no control characters; else dies naming the first bad field.
read_document() {
  local LC_ALL=C doc problem
  # A NUL (never valid in JSON text) becomes \x01, which jq refuses too; bash would drop it.
  doc=$(head -c 65537 | tr '\0' '\1') || die "could not read stdin"
  ((${#doc} <= 65536)) || die "the JSON document on stdin is larger than 64 KiB"
  jq -e 'type == "object"' >/dev/null 2>&1 <<<"$doc" || die "stdin is not a JSON object"
  problem=$(jq -r --argjson s "$DOCUMENT_STRING_FIELDS" --argjson o "$DOCUMENT_OBJECT_FIELDS" '
    [ ($s[] as $k | select(.[$k] != null) |
        if (.[$k] | type) != "string" then "\"\($k)\" in the JSON document must be a string"
        elif (.[$k] | test("[[:cntrl:]]")) then "\"\($k)\" in the JSON document must not hold control characters"
        else empty end),
      ($o[] as $k | select(.[$k] != null and (.[$k] | type) != "object") | "\"\($k)\" in the JSON document must be an object")
    ] | first // empty' <<<"$doc") || die "stdin is not a JSON object"
  [[ -z $problem ]] || die "$problem"
  DOCUMENT=$doc
}

# A top-level string field of DOCUMENT ('' when absent or null; read_document checked its type).
doc_string() {
  jq -j --arg k "$1" '.[$k] // ""' <<<"$DOCUMENT"
}

# prefix + 12 hex digits of the id's SHA-256: the same id always names the same thing.
derived_name() { printf '%s%s' "$1" "$(printf '%s' "$2" | sha256sum | cut -c1-12)"; }

# 32 random letters and digits.
random_password() {
  local pw=''
  while ((${#pw} < 32)); do pw+=$(head -c 64 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9'); done
  printf '%s' "${pw:0:32}"
}

# The binding's user: "username", else b + 12 hex digits of SHA-256("binding_id").
doc_username() {
  local u id
  u=$(doc_string username)
  if [[ -z $u ]]; then
    id=$(doc_string binding_id)
    [[ -n $id ]] || die "the JSON document needs \"username\" or \"binding_id\""
    u=$(derived_name b "$id")
  fi
  printf '%s' "$u"
}
