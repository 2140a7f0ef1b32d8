//! The agent console, served by the binary: `/` and its two assets, embedded at build time
//! (nothing to install to run it).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use actix_web::{HttpResponse, get, web};

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/app.css");
/// Only our own scripts, styles and API (and its socket).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index).service(script).service(style);
}

pub(crate) fn asset(body: &'static str, content_type: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((CONTENT_SECURITY_POLICY, POLICY))
        .body(body)
}

#[get("/")]
async fn index() -> HttpResponse {
    asset(INDEX, "text/html; charset=utf-8")
}

#[get("/console/app.js")]
async fn script() -> HttpResponse {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

#[get("/console/app.css")]
async fn style() -> HttpResponse {
    asset(STYLE, "text/css; charset=utf-8")
}
