//! The demo business database: seed 002's highway service-area example (companies, service
//! areas, routes, daily business figures, car counts; foreign keys, comments, enum-like
//! columns, dates), and a generated schema of N tables for the benchmark. Data is
//! deterministic, so runs and tests compare.
use crate::catalog::{ident, literal};
use postgres::Client;

#[derive(Debug, thiserror::Error)]
#[error("demo database: {0}")]
pub struct DemoError(pub String);

fn e(x: postgres::Error) -> DemoError {
    DemoError(
        x.as_db_error()
            .map_or(x.to_string(), |d| d.message().to_string()),
    )
}

/// Create the database of `url` when it does not exist (connecting to `postgres` beside it).
pub fn ensure_database(url: &str) -> Result<(), DemoError> {
    let (_, _, _, db) = crate::registry::url_parts(url);
    if db.is_empty() {
        return Err(DemoError(format!(
            "{} names no database",
            crate::registry::redacted(url)
        )));
    }
    let admin_url = match url.rfind(&format!("/{db}")) {
        Some(i) => format!("{}/postgres{}", &url[..i], &url[i + 1 + db.len()..]),
        None => {
            return Err(DemoError(
                "cannot derive the maintenance database URL".into(),
            ))
        }
    };
    let shown = crate::registry::redacted(&admin_url);
    let mut c =
        crate::catalog::connect(&admin_url, &shown).map_err(|x| DemoError(x.to_string()))?;
    let exists = c
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
        .map_err(e)?
        .is_some();
    if !exists {
        c.batch_execute(&format!("CREATE DATABASE {}", ident(&db)))
            .map_err(e)?;
    }
    Ok(())
}

const HIGHWAY: &str = r#"
SET client_min_messages = warning;
DROP TABLE IF EXISTS bss_car_day_count, bss_business_day_data, bss_section_route_area_link,
  bss_section_route, bss_service_area, bss_company CASCADE;
CREATE TABLE bss_company (
  id varchar(32) PRIMARY KEY,
  company_name varchar(255) NOT NULL,
  company_no varchar(32) NOT NULL,
  create_ts timestamp NOT NULL DEFAULT now()
);
COMMENT ON TABLE bss_company IS '业务支撑_公司信息表，记录管理服务区的公司';
COMMENT ON COLUMN bss_company.id IS '公司ID';
COMMENT ON COLUMN bss_company.company_name IS '公司名称';
COMMENT ON COLUMN bss_company.company_no IS '公司编码';
COMMENT ON COLUMN bss_company.create_ts IS '创建时间';
CREATE TABLE bss_service_area (
  id varchar(32) PRIMARY KEY,
  service_area_name varchar(255) NOT NULL,
  service_area_no varchar(32) NOT NULL,
  company_id varchar(32) NOT NULL REFERENCES bss_company (id),
  service_position varchar(64),
  service_area_type varchar(50) NOT NULL,
  service_state varchar(50) NOT NULL,
  create_ts timestamp NOT NULL DEFAULT now()
);
COMMENT ON TABLE bss_service_area IS '业务支撑_服务区信息表，记录高速公路服务区档案';
COMMENT ON COLUMN bss_service_area.id IS '服务区ID';
COMMENT ON COLUMN bss_service_area.service_area_name IS '服务区名称';
COMMENT ON COLUMN bss_service_area.service_area_no IS '服务区编码';
COMMENT ON COLUMN bss_service_area.company_id IS '所属公司ID';
COMMENT ON COLUMN bss_service_area.service_position IS '经纬度';
COMMENT ON COLUMN bss_service_area.service_area_type IS '服务区类型';
COMMENT ON COLUMN bss_service_area.service_state IS '服务区状态';
COMMENT ON COLUMN bss_service_area.create_ts IS '创建时间';
CREATE TABLE bss_section_route (
  id varchar(32) PRIMARY KEY,
  section_name varchar(255) NOT NULL,
  route_name varchar(255) NOT NULL,
  code varchar(32) NOT NULL
);
COMMENT ON TABLE bss_section_route IS '业务支撑_路段路线表';
COMMENT ON COLUMN bss_section_route.id IS '路段ID';
COMMENT ON COLUMN bss_section_route.section_name IS '路段名称';
COMMENT ON COLUMN bss_section_route.route_name IS '路线名称';
COMMENT ON COLUMN bss_section_route.code IS '路段编号';
CREATE TABLE bss_section_route_area_link (
  section_route_id varchar(32) NOT NULL REFERENCES bss_section_route (id),
  service_area_id varchar(32) NOT NULL REFERENCES bss_service_area (id),
  PRIMARY KEY (section_route_id, service_area_id)
);
COMMENT ON TABLE bss_section_route_area_link IS '业务支撑_路段服务区关联表';
COMMENT ON COLUMN bss_section_route_area_link.section_route_id IS '路段ID';
COMMENT ON COLUMN bss_section_route_area_link.service_area_id IS '服务区ID';
CREATE TABLE bss_business_day_data (
  id bigserial PRIMARY KEY,
  oper_date date NOT NULL,
  service_area_id varchar(32) NOT NULL REFERENCES bss_service_area (id),
  branch_name varchar(255) NOT NULL,
  wx numeric(19,4) NOT NULL DEFAULT 0,
  wx_order integer NOT NULL DEFAULT 0,
  zfb numeric(19,4) NOT NULL DEFAULT 0,
  zfb_order integer NOT NULL DEFAULT 0,
  rmb numeric(19,4) NOT NULL DEFAULT 0,
  rmb_order integer NOT NULL DEFAULT 0,
  pay_sum numeric(19,4) NOT NULL DEFAULT 0,
  order_sum integer NOT NULL DEFAULT 0,
  source_type varchar(20) NOT NULL
);
COMMENT ON TABLE bss_business_day_data IS '业务支撑_服务区档口每日营业数据';
COMMENT ON COLUMN bss_business_day_data.id IS '记录ID';
COMMENT ON COLUMN bss_business_day_data.oper_date IS '统计日期';
COMMENT ON COLUMN bss_business_day_data.service_area_id IS '服务区ID';
COMMENT ON COLUMN bss_business_day_data.branch_name IS '档口名称';
COMMENT ON COLUMN bss_business_day_data.wx IS '微信支付金额';
COMMENT ON COLUMN bss_business_day_data.wx_order IS '微信订单数';
COMMENT ON COLUMN bss_business_day_data.zfb IS '支付宝支付金额';
COMMENT ON COLUMN bss_business_day_data.zfb_order IS '支付宝订单数';
COMMENT ON COLUMN bss_business_day_data.rmb IS '现金支付金额';
COMMENT ON COLUMN bss_business_day_data.rmb_order IS '现金订单数';
COMMENT ON COLUMN bss_business_day_data.pay_sum IS '支付总金额';
COMMENT ON COLUMN bss_business_day_data.order_sum IS '订单总数';
COMMENT ON COLUMN bss_business_day_data.source_type IS '数据来源';
CREATE TABLE bss_car_day_count (
  id bigserial PRIMARY KEY,
  count_date date NOT NULL,
  service_area_id varchar(32) NOT NULL REFERENCES bss_service_area (id),
  car_type varchar(20) NOT NULL,
  customer_count bigint NOT NULL
);
COMMENT ON TABLE bss_car_day_count IS '业务支撑_服务区车辆日统计表';
COMMENT ON COLUMN bss_car_day_count.id IS '记录ID';
COMMENT ON COLUMN bss_car_day_count.count_date IS '统计日期';
COMMENT ON COLUMN bss_car_day_count.service_area_id IS '服务区ID';
COMMENT ON COLUMN bss_car_day_count.car_type IS '车辆类别';
COMMENT ON COLUMN bss_car_day_count.customer_count IS '车辆数量';
"#;

/// A small deterministic generator (xorshift), so demo data is the same on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The highway schema with its data (replacing what is there). Answers the table names.
pub fn create_highway(c: &mut Client, days: u32) -> Result<Vec<String>, DemoError> {
    c.batch_execute(HIGHWAY).map_err(e)?;
    let companies = [
        "驿美运营公司",
        "驿购运营公司",
        "南昌运营公司",
        "宜春运营公司",
        "上饶运营公司",
    ];
    let areas = [
        "庐山服务区",
        "三清山服务区",
        "吉安服务区",
        "南城服务区",
        "瑞金服务区",
        "鄱阳湖服务区",
        "井冈山服务区",
        "赣州服务区",
        "萍乡服务区",
        "景德镇服务区",
        "九江服务区",
        "抚州服务区",
        "新余服务区",
        "鹰潭服务区",
        "宜春服务区",
        "上饶服务区",
        "南昌北服务区",
        "昌北机场服务区",
    ];
    let mut sql = String::from("BEGIN;\n");
    for (i, name) in companies.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO bss_company VALUES ('c{i:02}', {}, 'H{:03}', TIMESTAMP '2021-01-0{} 09:00:00');\n",
            literal(name),
            i + 1,
            i + 1
        ));
    }
    let types = ["信息化服务区", "智能化服务区"];
    let states = ["开放", "开放", "开放", "关闭", "上传数据"];
    let mut rng = Rng(0x5eed_2026);
    for (i, name) in areas.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO bss_service_area VALUES ('s{i:02}', {}, 'SA{:04}', 'c{:02}', '{:.4},{:.4}', {}, {}, TIMESTAMP '2021-03-01 10:00:00' + INTERVAL '{i} days');\n",
            literal(name),
            1000 + i,
            i % companies.len(),
            114.0 + (rng.below(4000) as f64) / 1000.0,
            25.0 + (rng.below(5000) as f64) / 1000.0,
            literal(types[i % 2]),
            literal(states[i % states.len()]),
        ));
    }
    let routes = [
        ("昌九路段", "G70福银高速"),
        ("昌樟路段", "G60沪昆高速"),
        ("赣粤路段", "G45大广高速"),
        ("景婺黄路段", "G56杭瑞高速"),
    ];
    for (i, (s, r)) in routes.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO bss_section_route VALUES ('r{i}', {}, {}, 'L{:02}');\n",
            literal(s),
            literal(r),
            i + 1
        ));
    }
    for i in 0..areas.len() {
        sql.push_str(&format!(
            "INSERT INTO bss_section_route_area_link VALUES ('r{}', 's{i:02}');\n",
            i % routes.len()
        ));
    }
    let branches = ["餐饮", "便利店", "小吃", "特产"];
    let cars = ["过境", "危化品", "城际", "其他"];
    let start = chrono::NaiveDate::from_ymd_opt(2023, 4, 1).expect("a date");
    for d in 0..days {
        let day = (start + chrono::Duration::days(d as i64)).format("%Y-%m-%d");
        for (a, area) in areas.iter().enumerate() {
            for b in branches {
                let (wx, zfb, rmb) = (rng.below(500_000), rng.below(200_000), rng.below(50_000));
                let (wo, zo, ro) = (rng.below(300) + 1, rng.below(120) + 1, rng.below(30));
                sql.push_str(&format!(
                    "INSERT INTO bss_business_day_data (oper_date, service_area_id, branch_name, wx, wx_order, zfb, zfb_order, rmb, rmb_order, pay_sum, order_sum, source_type) VALUES (DATE '{day}', 's{a:02}', {}, {}, {wo}, {}, {zo}, {}, {ro}, {}, {}, {});\n",
                    literal(&format!("{}{b}", area.trim_end_matches("服务区"))),
                    wx as f64 / 100.0,
                    zfb as f64 / 100.0,
                    rmb as f64 / 100.0,
                    (wx + zfb + rmb) as f64 / 100.0,
                    wo + zo + ro,
                    literal(if rng.below(4) == 0 { "手工" } else { "系统" }),
                ));
            }
            for car in cars {
                sql.push_str(&format!(
                    "INSERT INTO bss_car_day_count (count_date, service_area_id, car_type, customer_count) VALUES (DATE '{day}', 's{a:02}', {}, {});\n",
                    literal(car),
                    rng.below(5000)
                ));
            }
        }
    }
    sql.push_str("COMMIT;\n");
    c.batch_execute(&sql).map_err(e)?;
    Ok([
        "bss_company",
        "bss_service_area",
        "bss_section_route",
        "bss_section_route_area_link",
        "bss_business_day_data",
        "bss_car_day_count",
    ]
    .iter()
    .map(|t| format!("public.{t}"))
    .collect())
}

/// A generated schema `gen` of `tables` tables with `rows` rows each; each table after the
/// first references the one before. Answers the table names.
pub fn create_generated(
    c: &mut Client,
    tables: usize,
    rows: usize,
) -> Result<Vec<String>, DemoError> {
    c.batch_execute("DROP SCHEMA IF EXISTS gen CASCADE; CREATE SCHEMA gen;")
        .map_err(e)?;
    let mut names = Vec::new();
    let mut rng = Rng(0x9e37_79b9);
    let cats = ["A", "B", "C", "D"];
    for i in 0..tables {
        let t = format!("t{i:03}");
        let parent = (i > 0).then(|| format!("t{:03}", i - 1));
        let mut sql = format!(
            "CREATE TABLE gen.{t} (id bigint PRIMARY KEY, name text NOT NULL, category text NOT NULL, amount numeric(12,2) NOT NULL, qty integer NOT NULL, day date NOT NULL{});\n\
             COMMENT ON TABLE gen.{t} IS 'generated table {i}';\nCOMMENT ON COLUMN gen.{t}.amount IS 'amount';\n",
            parent
                .as_ref()
                .map(|p| format!(", parent_id bigint REFERENCES gen.{p} (id)"))
                .unwrap_or_default()
        );
        let mut values = Vec::with_capacity(rows);
        for r in 0..rows {
            let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date")
                + chrono::Duration::days((r % 60) as i64);
            values.push(format!(
                "({r}, 'item {r}', '{}', {}.{:02}, {}, DATE '{}'{})",
                cats[r % cats.len()],
                rng.below(10_000),
                rng.below(100),
                rng.below(100),
                day.format("%Y-%m-%d"),
                if parent.is_some() {
                    format!(", {}", r % rows)
                } else {
                    String::new()
                }
            ));
        }
        if !values.is_empty() {
            let cols = if parent.is_some() {
                "(id, name, category, amount, qty, day, parent_id)"
            } else {
                "(id, name, category, amount, qty, day)"
            };
            sql.push_str(&format!(
                "INSERT INTO gen.{t} {cols} VALUES {};\n",
                values.join(", ")
            ));
        }
        c.batch_execute(&sql).map_err(e)?;
        names.push(format!("gen.{t}"));
    }
    Ok(names)
}
