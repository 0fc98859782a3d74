//! The redaction on the bodies providers really send: the seeds' answers, a PHP
//! warning before JSON, `print_r` text, HTML error pages and form echoes.

use super::*;
use secrecy::SecretString;
use std::borrow::Cow;

fn known(values: &[&str]) -> KnownSecrets {
    values.iter().fold(KnownSecrets::new(), |k, v| {
        k.with(&SecretString::from(v.to_string()))
    })
}

fn assert_hidden(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{s:?} is still in:\n{text}");
    }
    assert!(text.contains(MASK), "nothing was masked in:\n{text}");
}

#[test]
fn secret_looking_keys_and_the_ones_that_are_not() {
    let secret = [
        "password",
        "Password",
        "pass",
        "passwd",
        "root_pass",
        "root_password",
        "vps_password",
        "sql_pass",
        "npassword",
        "password2",
        "pin",
        "token",
        "whmcs_token",
        "sso-token",
        "X-Account-Token",
        "auth_validate_token",
        "api_key",
        "apikey",
        "apiKey",
        "x-api-key",
        "secretKey",
        "co_secret",
        "client_secret",
        "private_key",
        "pwresetkey",
        "Authorization",
        "passphrase",
        "credentials",
    ];
    for k in secret {
        assert!(is_secret_key(k, false), "{k} should be secret");
    }
    let not_secret = [
        "hostname",
        "token_expire",
        "deploy_keys",
        "ssh_key",
        "sshkey",
        "authorized_keys",
        "reinstall_key",
        "keys",
        "key",
        "passed",
        "bypass",
        "compass",
        "tag",
        "value",
        "message",
        "spin",
        "pinned",
        "",
    ];
    for k in not_secret {
        assert!(!is_secret_key(k, false), "{k} should not be secret");
    }
    // `key` is the API key in form and print_r echoes only.
    assert!(is_secret_key("key", true));
    assert!(!is_secret_key("deploy_key", true));
}

#[test]
fn the_seed_eq_show_loses_its_password_tag_and_keeps_the_rest() {
    let body = include_str!("../hostkey/fixtures/seed_eq_show.json");
    let out = redact(body);
    assert_hidden(&out, &["wK5Vjwx_BC"]);
    assert!(
        out.contains("nl-vmmini") && out.contains("Ubuntu 22.04"),
        "{out}"
    );
    assert!(out.contains("31.207.44.105"), "{out}");
}

#[test]
fn a_php_warning_before_json_is_masked_in_the_json_and_kept_in_the_warning() {
    let body = "<br />\n<b>Warning</b>:  Undefined array key \"deploy_key\" in <b>/var/www/invapi/eq.php</b> on line <b>412</b><br />\n\
        {\"result\":\"OK\",\"server_data\":{\"id\":40500},\"tags\":[{\"tag\":\"hostname\",\"value\":\"web-1.example.com\"},{\"tag\":\"password\",\"value\":\"Leak!pw-1\"}],\"token\":\"c92e48c4\"}";
    let out = redact(body);
    assert_hidden(&out, &["Leak!pw-1", "c92e48c4"]);
    assert!(
        out.starts_with("<br />\n<b>Warning</b>:  Undefined array key \"deploy_key\""),
        "{out}"
    );
    assert!(
        out.contains("web-1.example.com") && out.contains("40500"),
        "{out}"
    );
}

#[test]
fn json_between_notices_is_found_and_masked() {
    let body = "Notice: session started twice in /srv/api.php on line 3\n{\"result\":\"OK\",\"vps_info\":{\"ip\":\"37.1.0.9\",\"vps_password\":\"hunter2-x\"}}\n<!-- 0.021s -->";
    let out = redact(body);
    assert_hidden(&out, &["hunter2-x"]);
    assert!(
        out.contains("37.1.0.9") && out.ends_with("<!-- 0.021s -->"),
        "{out}"
    );
}

#[test]
fn print_r_text_loses_passwords_and_keys() {
    let body = "Array\n(\n    [method] => createVPS\n    [result] => fail\n    [msg] => VSCD: password too weak\n    [request] => Array\n        (\n            [key] => AbCdEf123456\n            [vps_password] => S3cret-Pw\n            [ostpl] => centos7-64-default\n        )\n\n    [tags] => Array\n        (\n            [tag] => password\n            [value] => Tagged-Pw9\n        )\n\n)\n";
    let out = redact(body);
    assert_hidden(&out, &["AbCdEf123456", "S3cret-Pw", "Tagged-Pw9"]);
    assert!(out.contains("[msg] => VSCD: password too weak"), "{out}");
    assert!(out.contains("[ostpl] => centos7-64-default"), "{out}");
    assert!(out.contains("[request] => Array"), "{out}");
    assert_eq!(out.lines().count(), body.lines().count());
}

#[test]
fn print_r_on_one_line_masks_only_the_secret_member() {
    let out = redact("Array ( [result] => success [vps_password] => S3cret-Pw [ip] => 37.1.0.9 )");
    assert_eq!(
        out,
        "Array ( [result] => success [vps_password] => [REDACTED] [ip] => 37.1.0.9 )"
    );
}

#[test]
fn an_html_500_page_with_a_form_echo_and_a_stack_trace() {
    let body = "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n<body><h1>Internal Server Error</h1>\n\
        <pre>POST /eq.php action=order_instance&amp;pin=1907&amp;root_pass=S3cure%21pass&amp;hostname=web-1.example.com</pre>\n\
        <p>Authorization: Bearer eyJhbGciOi.payload.sig</p>\n\
        <input type=\"hidden\" name=\"password\" value=\"Hidden-Pw7\">\n\
        </body></html>";
    let out = redact(body);
    assert_hidden(&out, &["1907", "S3cure%21pass", "eyJhbGciOi", "Hidden-Pw7"]);
    assert!(
        out.contains("<title>500 Internal Server Error</title>"),
        "{out}"
    );
    assert!(out.contains("hostname=web-1.example.com"), "{out}");
    assert!(out.contains("action=order_instance"), "{out}");
}

#[test]
fn a_form_encoded_echo_masks_pin_password_and_the_api_key() {
    let out =
        redact("action=login&key=f685eaa0f06e47fa&ttl=7200&pin=1907&root_pass=mdLus8Ng&id=40514");
    assert_eq!(
        out,
        "action=login&key=[REDACTED]&ttl=7200&pin=[REDACTED]&root_pass=[REDACTED]&id=40514"
    );
}

#[test]
fn hostkeys_console_scope_is_masked_inside_its_json_string() {
    let body = r#"{"result":"OK","scope":"[virt-viewer]\ntype=spice\nhost=146.0.78.94\nport=6194\npassword=HY14U9qL\n# Password is valid for 120 seconds.\nsso-token=mcHYs92LDliDuVJ2lHKY8n\nadmin=1\n","key":"f28dfd83fbc1dbb914710774d8e9e30a"}"#;
    let out = redact(body);
    assert_hidden(&out, &["HY14U9qL", "mcHYs92LDliDuVJ2lHKY8n"]);
    assert!(out.contains("host=146.0.78.94"), "{out}");
    assert!(
        out.contains("# Password is valid for 120 seconds."),
        "{out}"
    );
    // HOSTKEY's async key is the handle of the operation, not a credential.
    assert!(out.contains("f28dfd83fbc1dbb914710774d8e9e30a"), "{out}");
}

#[test]
fn idcloudhost_token_lists_and_storage_keys() {
    let body = r#"[{"billing_account_id":0,"description":"hea token","id":2,"token":"vYNKd8VWHg583sTkAZ8vKbyVtyXWILXn","restricted":false},
        {"accessKey":"ES1R9XK1N","secretKey":"bwtlQ7LU","userId":"u-1"}]"#;
    let out = redact(body);
    assert_hidden(
        &out,
        &["vYNKd8VWHg583sTkAZ8vKbyVtyXWILXn", "ES1R9XK1N", "bwtlQ7LU"],
    );
    assert!(out.contains("hea token") && out.contains("u-1"), "{out}");
}

#[test]
fn the_seeds_login_answer_loses_its_token() {
    let out = redact(include_str!("../hostkey/fixtures/seed_auth_login.json"));
    assert_hidden(&out, &["c92e48c4506320873286b84440e74sfd"]);
    assert!(out.contains("Customer billing"), "{out}");
}

#[test]
fn inferno_getinfo_loses_the_vps_password() {
    let out = redact(include_str!("../inferno/fixtures/seed_getinfo.json"));
    assert!(out.contains("37.1.0.111"), "{out}");
    assert!(out.contains(r#""vps_password":"[REDACTED]""#), "{out}");
}

#[test]
fn nested_secret_values_are_masked_whole() {
    let body = r#"{"co_secret":{"question":"pet","answer":"Rex"},"auth":{"password":["p1","p2"],"user":"bob"},"Password":"","pin":null}"#;
    let out = redact(body);
    assert_hidden(&out, &["Rex", "p1", "p2"]);
    assert!(out.contains(r#""user":"bob""#), "{out}");
    // nothing to hide in an empty or null value
    assert!(
        out.contains(r#""Password":"""#) && out.contains(r#""pin":null"#),
        "{out}"
    );
}

#[test]
fn broken_json_in_text_is_masked_fragment_by_fragment() {
    let body = "Fatal error: json_encode(): depth\n\"tag\": \"password\", \"value\": \"Frag-Pw1\", \"root_pass\": \"Frag-Pw2\", \"pin\": 1907, \"hostname\": \"h1\"";
    let out = redact(body);
    assert_hidden(&out, &["Frag-Pw1", "Frag-Pw2", "1907"]);
    assert!(out.contains("\"hostname\": \"h1\""), "{out}");
}

#[test]
fn headers_and_yaml_lines() {
    let out = redact(
        "X-Account-Token: 9f8e7d6c5b\nContent-Type: text/html\nroot_password: Yaml-Pw3\nuser: root",
    );
    assert_eq!(
        out,
        "X-Account-Token: [REDACTED]\nContent-Type: text/html\nroot_password: [REDACTED]\nuser: root"
    );
}

#[test]
fn text_without_secrets_comes_back_byte_for_byte() {
    for body in [
        "<html>502 Bad Gateway</html>",
        "Order ID not found or Status not Pending",
        "<br />\n<b>Fatal error</b>:  Uncaught PDOException in /var/www/a.php:12\nStack trace:\n#0 {main}\n  thrown in <b>/var/www/a.php</b> on line <b>12</b><br />\r\n",
        "Error: https://api.example.com/v1/vm?uuid=1 answered 504",
        "ratio == 1; a != b; x => y; Class::method()",
        "",
    ] {
        assert_eq!(redact(body), body);
    }
}

#[test]
fn known_secrets_are_masked_in_every_spelling() {
    let k = known(&["S3cure!pass/x y", "1907", "abc"]);
    let text = "raw S3cure!pass/x y; form S3cure%21pass%2Fx+y; pct S3cure%21pass%2Fx%20y; json S3cure!pass\\/x y; pin 1907; short abc";
    let out = k.scrub(text);
    assert_hidden(&out, &["S3cure", "1907"]);
    // three characters are too few to search for
    assert!(out.ends_with("short abc"), "{out}");
    let html = known(&["a<b>&\"c'd"])
        .scrub("echo a&lt;b&gt;&amp;&quot;c&#039;d")
        .into_owned();
    assert_eq!(html, "echo [REDACTED]");
    assert!(matches!(k.scrub("nothing here"), Cow::Borrowed(_)));
    assert!(!format!("{k:?}").contains("1907"));
}

#[test]
fn a_secret_inside_another_is_masked_whole() {
    let out = known(&["pass", "passphrase-long"]).scrub("x passphrase-long y pass z");
    assert_eq!(out, "x [REDACTED] y [REDACTED] z");
}
