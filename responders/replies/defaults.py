"""The shipped reply templates and topic names, in English, Spanish, Haitian Creole,
Vietnamese and Simplified Chinese.

Keys: ``urgency:emergency`` (the 911 reply), ``urgency:high``, ``case`` (a case exists),
``topic:<topic>``, ``ack`` (any other actionable post) and ``followup`` (a case closed).
Every default fits X's weighted 280 with a long handle and a 23-character case link.
"""

from __future__ import annotations

LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "ht": "Kreyòl ayisyen",
    "vi": "Tiếng Việt",
    "zh": "中文",
}

TEMPLATES: dict[str, dict[str, str]] = {
    "urgency:emergency": {
        "en": "{handle} This sounds like an emergency: please call 911 right away. This account "
        "is not watched around the clock, so 911 is the fastest way to get help.",
        "es": "{handle} Esto parece una emergencia: llame al 911 de inmediato. Esta cuenta no se "
        "vigila las 24 horas; el 911 es la forma más rápida de obtener ayuda.",
        "ht": "{handle} Sa sanble yon ijans: tanpri rele 911 touswit. Nou pa siveye kont sa a "
        "24 sou 24, kidonk 911 se fason ki pi rapid pou jwenn èd.",
        "vi": "{handle} Đây có vẻ là trường hợp khẩn cấp: xin gọi 911 ngay. Tài khoản này không "
        "được theo dõi suốt ngày đêm, vì vậy 911 là cách nhanh nhất để được giúp đỡ.",
        "zh": "{handle} 这看起来是紧急情况：请立即拨打911。本账号并非全天候有人值守，拨打911是获得帮助最快的方式。",
    },
    "urgency:high": {
        "en": "{handle} Thank you, this looks urgent. We have flagged it for the right team "
        "today. If anyone is in danger, call 911.",
        "es": "{handle} Gracias, esto parece urgente. Hoy mismo lo hemos señalado al equipo "
        "responsable. Si alguien está en peligro, llame al 911.",
        "ht": "{handle} Mèsi, sa sanble ijan. Nou siyale l bay ekip ki responsab la jodi a. "
        "Si yon moun an danje, rele 911.",
        "vi": "{handle} Cảm ơn bạn, việc này có vẻ khẩn cấp. Chúng tôi đã báo cho bộ phận phụ "
        "trách ngay hôm nay. Nếu có ai gặp nguy hiểm, xin gọi 911.",
        "zh": "{handle} 谢谢您，这个问题看起来很紧急。我们今天已通知负责部门。如有人身危险，请拨打911。",
    },
    "case": {
        "en": "{handle} Thanks for reporting this. It is already logged as case #{case_number}, "
        "and we will update you here when it is resolved. {case_link}",
        "es": "{handle} Gracias por reportarlo. Ya está registrado como el caso #{case_number} y "
        "le avisaremos aquí cuando se resuelva. {case_link}",
        "ht": "{handle} Mèsi paske ou rapòte sa. Li deja anrejistre kòm ka #{case_number}, epi "
        "n ap fè ou konnen isit la lè yo rezoud li. {case_link}",
        "vi": "{handle} Cảm ơn bạn đã báo cáo. Việc này đã được ghi nhận là hồ sơ số "
        "{case_number}, chúng tôi sẽ cập nhật tại đây khi được giải quyết. {case_link}",
        "zh": "{handle} 感谢您的报告。此事已登记为第{case_number}号案件，解决后我们会在这里通知您。{case_link}",
    },
    "ack": {
        "en": "{handle} Thank you for letting us know about this {topic_name} problem. We have "
        "shared it with the team that handles it and will follow up here.",
        "es": "{handle} Gracias por avisarnos de este problema de {topic_name}. Lo hemos "
        "compartido con el equipo responsable y le daremos seguimiento aquí.",
        "ht": "{handle} Mèsi paske ou fè nou konnen pwoblèm {topic_name} sa a. Nou pataje l ak "
        "ekip ki responsab la, epi n ap ba ou nouvèl isit la.",
        "vi": "{handle} Cảm ơn bạn đã báo cho chúng tôi về vấn đề {topic_name} này. Chúng tôi "
        "đã chuyển đến bộ phận phụ trách và sẽ cập nhật cho bạn tại đây.",
        "zh": "{handle} 感谢您告诉我们这个{topic_name}问题。我们已转交负责部门处理，并会在这里向您更新进展。",
    },
    "followup": {
        "en": "{handle} Good news: the {topic_name} problem you reported has been marked fixed. "
        "Thank you for telling us! If it is still there, reply here and let us know.",
        "es": "{handle} Buenas noticias: el problema de {topic_name} que reportó figura como "
        "resuelto. ¡Gracias por avisarnos! Si sigue ahí, responda aquí y díganoslo.",
        "ht": "{handle} Bon nouvèl: pwoblèm {topic_name} ou te rapòte a make kòm rezoud. Mèsi "
        "paske ou te fè nou konnen! Si li toujou la, reponn isit la pou di nou.",
        "vi": "{handle} Tin vui: vấn đề {topic_name} bạn báo cáo đã được ghi nhận là đã xử lý "
        "xong. Cảm ơn bạn! Nếu vẫn còn, xin trả lời tại đây cho chúng tôi biết.",
        "zh": "{handle} 好消息：您报告的{topic_name}问题已标记为解决。感谢您的报告！如果问题仍然存在，请在这里回复告诉我们。",
    },
    "topic:pothole": {
        "en": "{handle} Thanks for reporting this pothole. We have passed it to our street "
        "repair crews and will update you here.",
        "es": "{handle} Gracias por reportar este bache. Lo hemos pasado a nuestras cuadrillas "
        "de reparación de calles y le avisaremos aquí.",
    },
    "topic:streetlight": {
        "en": "{handle} Thanks for letting us know about the street light. We have sent it to "
        "the street lighting team and will update you here.",
        "es": "{handle} Gracias por avisarnos del alumbrado. Lo hemos enviado al equipo de "
        "alumbrado público y le avisaremos aquí.",
    },
    "topic:snow_ice": {
        "en": "{handle} Thanks for the report. We have shared it with our snow operations team "
        "and will update you here.",
        "es": "{handle} Gracias por el aviso. Lo hemos compartido con nuestro equipo de "
        "operaciones de nieve y le avisaremos aquí.",
    },
}

TOPIC_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "pothole": "pothole",
        "streetlight": "street light",
        "trash": "trash",
        "dumping": "illegal dumping",
        "graffiti": "graffiti",
        "snow_ice": "snow and ice",
        "tree": "tree",
        "sidewalk": "sidewalk",
        "signal_sign": "traffic signal or sign",
        "traffic_safety": "traffic safety",
        "parking": "parking",
        "street_cleaning": "street cleaning",
        "water_sewer": "water and sewer",
        "parks": "park",
        "noise": "noise",
        "pests": "rodent and pest",
        "encampment": "encampment",
        "housing": "housing",
        "other_service": "city service",
    },
    "es": {
        "pothole": "baches",
        "streetlight": "alumbrado",
        "trash": "basura",
        "dumping": "vertido ilegal",
        "graffiti": "grafiti",
        "snow_ice": "nieve y hielo",
        "tree": "árboles",
        "sidewalk": "aceras",
        "signal_sign": "semáforos o señales",
        "traffic_safety": "seguridad vial",
        "parking": "estacionamiento",
        "street_cleaning": "limpieza de calles",
        "water_sewer": "agua y alcantarillado",
        "parks": "parques",
        "noise": "ruido",
        "pests": "roedores y plagas",
        "encampment": "campamentos",
        "housing": "vivienda",
        "other_service": "servicios de la ciudad",
    },
    "ht": {
        "pothole": "twou nan lari",
        "streetlight": "limyè lari",
        "trash": "fatra",
        "dumping": "fatra yo jete ilegalman",
        "graffiti": "grafiti",
        "snow_ice": "nèj ak glas",
        "tree": "pyebwa",
        "sidewalk": "twotwa",
        "signal_sign": "limyè trafik oswa pankat",
        "traffic_safety": "sekirite sou wout",
        "parking": "pakin",
        "street_cleaning": "netwayaj lari",
        "water_sewer": "dlo ak egou",
        "parks": "pak",
        "noise": "bri",
        "pests": "rat ak ensèk",
        "encampment": "kan",
        "housing": "lojman",
        "other_service": "sèvis vil la",
    },
    "vi": {
        "pothole": "ổ gà",
        "streetlight": "đèn đường",
        "trash": "rác thải",
        "dumping": "đổ rác trái phép",
        "graffiti": "vẽ bậy",
        "snow_ice": "tuyết và băng",
        "tree": "cây xanh",
        "sidewalk": "vỉa hè",
        "signal_sign": "đèn giao thông hoặc biển báo",
        "traffic_safety": "an toàn giao thông",
        "parking": "đỗ xe",
        "street_cleaning": "vệ sinh đường phố",
        "water_sewer": "cấp thoát nước",
        "parks": "công viên",
        "noise": "tiếng ồn",
        "pests": "chuột và côn trùng",
        "encampment": "lều trại",
        "housing": "nhà ở",
        "other_service": "dịch vụ thành phố",
    },
    "zh": {
        "pothole": "路面坑洞",
        "streetlight": "路灯",
        "trash": "垃圾",
        "dumping": "非法倾倒",
        "graffiti": "涂鸦",
        "snow_ice": "积雪结冰",
        "tree": "树木",
        "sidewalk": "人行道",
        "signal_sign": "交通信号或标志",
        "traffic_safety": "交通安全",
        "parking": "停车",
        "street_cleaning": "街道清扫",
        "water_sewer": "供水排水",
        "parks": "公园",
        "noise": "噪音",
        "pests": "鼠患虫害",
        "encampment": "露宿营地",
        "housing": "住房",
        "other_service": "城市服务",
    },
}

PLACEHOLDERS: dict[str, str] = {
    "handle": "the resident, as the platform writes a mention (@name, u/name)",
    "case_number": "the 311 case number, when a case was filed or linked",
    "case_link": "a link to the case (the city's case_link_template); costs more on X",
    "neighborhood": "the neighborhood found in the post",
    "expected_time": "how long a fix usually takes (the city's expected_times)",
    "topic_name": "the topic, in the reply's language",
    "city_name": "the city's name",
}


def topic_name(topic: str | None, language: str) -> str:
    names = TOPIC_NAMES.get(language) or TOPIC_NAMES["en"]
    key = topic or "other_service"
    return names.get(key) or TOPIC_NAMES["en"].get(key) or key.replace("_", " ")
