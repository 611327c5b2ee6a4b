extension PostgresConfiguration {
  /// Parses `postgres://[user[:password]@][host][:port][/database][?key=value&...]`.
  init(url: String) throws {
    self.init()
    var rest = Substring(url)
    if rest.hasPrefix("postgresql://") {
      rest = rest.dropFirst("postgresql://".count)
    } else if rest.hasPrefix("postgres://") {
      rest = rest.dropFirst("postgres://".count)
    } else {
      throw invalid("URL must start with postgres:// or postgresql://")
    }

    var query: Substring = ""
    if let questionMark = rest.firstIndex(of: "?") {
      query = rest[rest.index(after: questionMark)...]
      rest = rest[..<questionMark]
    }
    var path: Substring? = nil
    if let slash = rest.firstIndex(of: "/") {
      path = rest[rest.index(after: slash)...]
      rest = rest[..<slash]
    }
    var hostPort = rest
    if let at = rest.lastIndex(of: "@") {
      let userInfo = rest[..<at]
      hostPort = rest[rest.index(after: at)...]
      if let colon = userInfo.firstIndex(of: ":") {
        self.user = try percentDecode(userInfo[..<colon], what: "user")
        self.password = try percentDecode(userInfo[userInfo.index(after: colon)...], what: "password")
      } else {
        self.user = try percentDecode(userInfo, what: "user")
      }
      if self.user == "" { self.user = nil }
    }
    guard !hostPort.contains(",") else {
      throw invalid("multiple hosts are not supported")
    }
    if hostPort.hasPrefix("[") {
      guard let close = hostPort.firstIndex(of: "]") else { throw invalid("unterminated [IPv6] host") }
      self.host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
      let afterHost = hostPort[hostPort.index(after: close)...]
      if afterHost.hasPrefix(":") {
        self.port = try parsePort(afterHost.dropFirst())
      } else if !afterHost.isEmpty {
        throw invalid("unexpected text after [IPv6] host")
      }
    } else if let colon = hostPort.lastIndex(of: ":") {
      let host = try percentDecode(hostPort[..<colon], what: "host")
      self.host = host.isEmpty ? nil : host
      self.port = try parsePort(hostPort[hostPort.index(after: colon)...])
    } else if !hostPort.isEmpty {
      self.host = try percentDecode(hostPort, what: "host")
    }
    if let path, !path.isEmpty {
      self.database = try percentDecode(path, what: "database")
    }
    for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
      guard let equals = pair.firstIndex(of: "=") else {
        throw invalid("query parameter without '=' in URL")
      }
      let key = try percentDecode(pair[..<equals], what: "parameter name")
      let value = try percentDecode(pair[pair.index(after: equals)...], what: "parameter \(key)")
      try self.apply(key: key, value: value)
    }
  }

  /// Parses `key=value key='quoted \' value' ...` as libpq does.
  init(keyValueString string: String) throws {
    self.init()
    var scalars = Substring(string).unicodeScalars[...]
    func skipSpaces() {
      while let first = scalars.first, first.properties.isWhitespace { scalars = scalars.dropFirst() }
    }
    while true {
      skipSpaces()
      guard !scalars.isEmpty else { break }
      var key = ""
      while let first = scalars.first, first != "=", !first.properties.isWhitespace {
        key.unicodeScalars.append(first)
        scalars = scalars.dropFirst()
      }
      skipSpaces()
      guard scalars.first == "=", !key.isEmpty else {
        throw invalid("expected key=value in connection string")
      }
      scalars = scalars.dropFirst()
      skipSpaces()
      var value = ""
      if scalars.first == "'" {
        scalars = scalars.dropFirst()
        var closed = false
        while let first = scalars.first {
          scalars = scalars.dropFirst()
          if first == "\\" {
            guard let escaped = scalars.first else { break }
            value.unicodeScalars.append(escaped)
            scalars = scalars.dropFirst()
          } else if first == "'" {
            closed = true
            break
          } else {
            value.unicodeScalars.append(first)
          }
        }
        guard closed else { throw invalid("unterminated quoted value for \(key)") }
      } else {
        while let first = scalars.first, !first.properties.isWhitespace {
          scalars = scalars.dropFirst()
          if first == "\\", let escaped = scalars.first {
            value.unicodeScalars.append(escaped)
            scalars = scalars.dropFirst()
          } else {
            value.unicodeScalars.append(first)
          }
        }
      }
      try self.apply(key: key, value: value)
    }
  }

  private mutating func apply(key: String, value: String) throws {
    switch key {
    case "host":
      guard !value.contains(",") else { throw invalid("multiple hosts are not supported") }
      self.host = value.isEmpty ? nil : value
    case "port":
      self.port = try parsePort(Substring(value))
    case "user":
      self.user = value.isEmpty ? nil : value
    case "password":
      self.password = value
    case "dbname":
      self.database = value.isEmpty ? nil : value
    case "application_name":
      self.applicationName = value
    case "connect_timeout":
      guard let seconds = Int(value), seconds >= 0 else { throw invalid("invalid connect_timeout") }
      self.connectTimeout = seconds == 0 ? nil : .seconds(seconds)
    case "sslmode":
      self.sslMode = SSLMode(rawValue: value)
    case "search_path":
      self.searchPath = value.split(separator: ",").map { String($0).trimmingWhitespace }
    case "options":
      try self.applyOptions(value)
    case "client_encoding":
      guard value.uppercased() == "UTF8" || value.uppercased() == "UTF-8" else {
        throw invalid("client_encoding must be UTF8")
      }
    default:
      self.additionalParameters[key] = value
    }
  }

  /// Splits `-c name=value -cname=value --name=value` (backslash escapes) into runtime parameters.
  private mutating func applyOptions(_ options: String) throws {
    var arguments: [String] = []
    var current = ""
    var escaping = false
    var inArgument = false
    for character in options {
      if escaping {
        current.append(character)
        escaping = false
      } else if character == "\\" {
        escaping = true
        inArgument = true
      } else if character == " " || character == "\t" {
        if inArgument { arguments.append(current) }
        current = ""
        inArgument = false
      } else {
        current.append(character)
        inArgument = true
      }
    }
    if inArgument { arguments.append(current) }

    var index = 0
    while index < arguments.count {
      var setting: String
      let argument = arguments[index]
      if argument == "-c" {
        index += 1
        guard index < arguments.count else { throw invalid("options: -c without a setting") }
        setting = arguments[index]
      } else if argument.hasPrefix("-c") {
        setting = String(argument.dropFirst(2))
      } else if argument.hasPrefix("--") {
        setting = String(argument.dropFirst(2))
      } else {
        throw invalid("options: only -c name=value settings are supported")
      }
      guard let equals = setting.firstIndex(of: "=") else {
        throw invalid("options: setting without '='")
      }
      let name = String(setting[..<equals]).replacingAll("-", with: "_")
      let value = String(setting[setting.index(after: equals)...])
      if name == "search_path" {
        self.searchPath = value.split(separator: ",").map {
          var schema = String($0).trimmingWhitespace
          if schema.hasPrefix("\"") && schema.hasSuffix("\"") && schema.count >= 2 {
            schema = String(schema.dropFirst().dropLast()).replacingAll("\"", with: "")
          }
          return schema
        }
      } else {
        self.runtimeParameters[name] = value
      }
      index += 1
    }
  }
}

private func invalid(_ message: String) -> PostgresError {
  PostgresError(code: .invalidConfiguration, message: message)
}

private func parsePort(_ text: Substring) throws -> Int? {
  if text.isEmpty { return nil }
  guard let port = Int(text), (1...65535).contains(port) else {
    throw invalid("invalid port")
  }
  return port
}

private func hexValue(_ byte: UInt8) -> UInt8? {
  switch byte {
  case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
  case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
  case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
  default: nil
  }
}

/// Decodes `%XX` escapes. `what` names the component in the error (never its value).
private func percentDecode(_ text: Substring, what: String) throws -> String {
  var bytes: [UInt8] = []
  var iterator = text.utf8.makeIterator()
  while let byte = iterator.next() {
    if byte == UInt8(ascii: "%") {
      guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
        throw invalid("invalid percent-encoding in \(what)")
      }
      bytes.append(high << 4 | low)
    } else {
      bytes.append(byte)
    }
  }
  guard let decoded = String(validating: bytes, as: UTF8.self) else {
    throw invalid("\(what) is not valid UTF-8")
  }
  return decoded
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
func percentEncode(_ text: String) -> String {
  var out = ""
  for byte in text.utf8 {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
      UInt8(ascii: "_"), UInt8(ascii: "~"):
      out.unicodeScalars.append(Unicode.Scalar(byte))
    default:
      out += "%" + hexString([byte]).uppercased()
    }
  }
  return out
}
