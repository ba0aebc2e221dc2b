//! Micro-benchmarks of the per-poll hot path that needs no I/O: decoding a reply into
//! samples, and planning a map into requests (done once per map load, measured to show it
//! is cheap enough to redo on every reload). Run: `cargo bench -p historian-modbus`.

use historian_modbus::client::ReadData;
use historian_modbus::decode::encode_words;
use historian_modbus::plan::ReadPlan;
use historian_modbus::poll::decode_point;
use historian_model::PlanOptions;
use historian_sim::fleet::reference_map;
use historian_sim::raw_value;

fn main() {
    divan::main();
}

/// Replies (words) for every request of the reference map's plan, as the simulator sends.
fn replies(points: usize) -> (Vec<historian_model::RegisterPoint>, ReadPlan, Vec<ReadData>) {
    let map = reference_map(points);
    let plan = ReadPlan::new(&map, PlanOptions::default());
    let data = plan
        .requests
        .iter()
        .map(|r| {
            let mut words = vec![0u16; usize::from(r.count())];
            for &(i, off) in r.points() {
                let p = &map[i];
                let at = usize::from(off);
                let width = usize::from(p.data_type.width());
                encode_words(
                    raw_value(0, p, 7),
                    p.data_type,
                    p.word_order,
                    &mut words[at..at + width],
                );
            }
            ReadData::Registers(words)
        })
        .collect();
    (map, plan, data)
}

/// Decoding one poll of a device: every point of the map, scaled and quality-flagged.
#[divan::bench(args = [100, 1000])]
fn decode_poll(bencher: divan::Bencher, points: usize) {
    let (map, plan, data) = replies(points);
    bencher
        .counter(divan::counter::ItemsCount::new(points))
        .bench(|| {
            let mut n = 0usize;
            for (req, reply) in plan.requests.iter().zip(&data) {
                for &(i, off) in req.points() {
                    let s = decode_point(&map[i], reply, usize::from(off));
                    n += usize::from(s.value.is_some());
                }
            }
            divan::black_box(n)
        });
}

/// Planning a map into the fewest requests within the protocol limits.
#[divan::bench(args = [100, 1000, 10000])]
fn plan_map(bencher: divan::Bencher, points: usize) {
    let map = reference_map(points);
    bencher
        .counter(divan::counter::ItemsCount::new(points))
        .bench(|| ReadPlan::new(divan::black_box(&map), PlanOptions::default()));
}
